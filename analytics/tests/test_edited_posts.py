"""Edited posts on the managers' dashboards (issue 17): what each associate wrote and what WeCom received,
scoped like every dashboard, paginated in a fixed number of queries, and as CSV."""

from __future__ import annotations

from django.urls import reverse

from analytics.tests.test_dashboards import _login
from campaigns.models import PublishTask
from staff.roles import MANAGER
from staff.tests import factories


def _edit(world, associate, written: str) -> None:
    PublishTask.objects.filter(associate=associate, moment=world["moments"][0]).update(
        edited_copy=written, posted_text=f"{written}\n玫瑰系列上新，限时九折"
    )


def test_a_manager_sees_the_edited_posts_of_their_stores_only(world):
    _edit(world, world["lily"], "我亲自试过 🌹")
    elsewhere = factories.department("北京店")
    zoe = factories.associate("zoe", departments=[elsewhere])
    PublishTask.objects.create(moment=world["moments"][0], variant=world["moments"][0].variants.get(), associate=zoe,
                               edited_copy="北京的话", posted_text="北京的话\n玫瑰系列上新")  # fmt: skip
    url = reverse("dashboards:edited", args=[world["campaign"].public_id])
    mine = _login(factories.user("rm", role=MANAGER, manages=[world["region"]])).get(url).content.decode()
    assert "我亲自试过 🌹" in mine and "北京的话" not in mine
    assert "ken" not in mine.split('data-testid="edited-posts"')[1]  # Ken published the brand's copy as it was
    theirs = _login(factories.user("om", role=MANAGER, manages=[elsewhere])).get(url).content.decode()
    assert "北京的话" in theirs and "我亲自试过" not in theirs


def test_the_edited_posts_page_costs_the_same_queries_with_more_rows(world, django_assert_max_num_queries):
    _edit(world, world["lily"], "第一句")
    url = reverse("dashboards:edited", args=[world["campaign"].public_id])
    client = _login(factories.user("rm", role=MANAGER, manages=[world["region"]]))
    with django_assert_max_num_queries(12) as few:
        client.get(url)
    _edit(world, world["ken"], "第二句")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert "第二句" in client.get(url).content.decode()


def test_the_edited_posts_download_as_csv(world):
    _edit(world, world["lily"], '=HYPERLINK("http://evil.example")')
    url = reverse("dashboards:edited", args=[world["campaign"].public_id]) + "?format=csv"
    client = _login(factories.user("rm", role=MANAGER, manages=[world["region"]]))
    body = b"".join(client.get(url).streaming_content).decode("utf-8-sig")
    assert "lily" in body and "'=HYPERLINK" in body  # a formula is neutralised, as in every CSV we write
