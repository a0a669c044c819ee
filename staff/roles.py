"""The roles of Moments, as Django groups with model permissions.

Applied by data migrations (``staff.0002_roles`` and later ones that add models),
so a fresh database always has them. Group names are stable identifiers; the
admin shows them translated.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

MARKETING_ADMIN = "Marketing admin"
APPROVER = "Approver"
MANAGER = "Manager"

ROLE_LABELS = {MARKETING_ADMIN: _("Marketing admin"), APPROVER: _("Approver"), MANAGER: _("Manager")}

# Groups whose members see the whole directory; everyone else sees only the
# subtrees of their ManagerAssignment rows (see staff.selectors).
ROLES_WITH_FULL_SCOPE = (MARKETING_ADMIN, APPROVER)

_ALL = ("view", "add", "change", "delete")
_VIEW = ("view",)
# Reach facts and roll-ups: who saw what (analytics).
_REACH = ("delivery", "engagement", "associateday", "departmentday", "campaignreach")
_DIRECTORY = (
    "department",
    "associate",
    "associatedepartment",
    "customer",
    "customertaggroup",
    "customertag",
    "contact",
    "contacttag",
)

# Campaign drafting (the campaigns app): the libraries and the plan.
_CAMPAIGN_CONTENT = ("campaign", "variant", "varianthashtag", "variantimage", "tone", "hashtag", "forbiddenword",
                     "mediaasset", "calltoaction")  # fmt: skip

# CTA tracking: the short links and their clicks (campaigns.links).
_CLICKS = ("trackedlink", "linkclick")

# role -> {(app_label, model): actions}
ROLE_PERMISSIONS: dict[str, dict[tuple[str, str], tuple[str, ...]]] = {
    MARKETING_ADMIN: {
        **{("staff", model): _ALL for model in _DIRECTORY},
        ("staff", "managerassignment"): _ALL,
        ("staff", "user"): _VIEW,
        # "add" a sync run = start a sync from WeCom
        ("staff", "directorysyncrun"): ("view", "add"),
        ("staff", "callbackevent"): _VIEW,
        **{("campaigns", model): _ALL for model in _CAMPAIGN_CONTENT},
        # "submit" a moment for review (and schedule or cancel it); never "approve"
        ("campaigns", "moment"): (*_ALL, "submit"),
        ("campaigns", "approval"): _VIEW,
        ("campaigns", "statechange"): _VIEW,
        ("campaigns", "publishtask"): _VIEW,
        **{("campaigns", model): _VIEW for model in _CLICKS},
        # Channel QR codes: created from the campaign page (never deleted: WeCom keeps the contact way)
        ("campaigns", "channelcode"): ("view", "add", "change"),
        ("campaigns", "welcomesent"): _VIEW,
        ("analytics", "platformrules"): _ALL,
        **{("analytics", model): _VIEW for model in _REACH},
    },
    APPROVER: {
        **{("staff", model): _VIEW for model in _DIRECTORY},
        **{("campaigns", model): _VIEW for model in _CAMPAIGN_CONTENT},
        ("campaigns", "moment"): (*_VIEW, "approve"),
        ("campaigns", "approval"): _VIEW,
        ("campaigns", "statechange"): _VIEW,
        ("campaigns", "publishtask"): _VIEW,
        **{("campaigns", model): _VIEW for model in _CLICKS},
        ("campaigns", "channelcode"): _VIEW,
        ("analytics", "platformrules"): _VIEW,
        **{("analytics", model): _VIEW for model in _REACH},
    },
    MANAGER: {
        ("staff", model): _VIEW
        for model in ("department", "associate", "associatedepartment", "customer", "contact", "contacttag")
    }
    # Reach within their subtree (analytics scopes every read to it).
    | {("analytics", model): _VIEW for model in _REACH}
    | {("campaigns", model): _VIEW for model in _CLICKS}
    | {("campaigns", "channelcode"): _VIEW},
}


def roles_sync(*, group_model, permission_model, role_permissions=None) -> None:
    """Create the groups and set exactly the given permissions (default: the
    current ``ROLE_PERMISSIONS``). A data migration passes its historical models
    and a frozen copy of the grants, so replaying it never asks for permissions
    of models that a later migration adds; each such migration passes its own."""
    for role, grants in (role_permissions or ROLE_PERMISSIONS).items():
        group, _created = group_model.objects.get_or_create(name=role)
        wanted = []
        for (app_label, model), actions in grants.items():
            codenames = [f"{action}_{model}" for action in actions]
            found = list(permission_model.objects.filter(content_type__app_label=app_label, codename__in=codenames))
            if len(found) != len(codenames):
                missing = set(codenames) - {permission.codename for permission in found}
                raise RuntimeError(f"Permissions missing for role {role!r}: {sorted(missing)}")
            wanted.extend(found)
        group.permissions.set(wanted)


def create_all_permissions(apps) -> None:
    """In a data migration: create the permissions of every model so far (Django
    creates them only after all migrations ran, in post_migrate)."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None


def grant_role_permissions(apps, *, app_label: str, grants: dict[str, list[str]]) -> None:
    """In a data migration: add permissions (codenames of ``app_label``) to role groups,
    creating the permissions first (see ``create_all_permissions``)."""
    create_all_permissions(apps)
    permission = apps.get_model("auth", "Permission")
    group = apps.get_model("auth", "Group")
    for role, codenames in grants.items():
        found = list(permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
        missing = sorted(set(codenames) - {p.codename for p in found})
        if missing:
            raise RuntimeError(f"Permissions missing for role {role!r}: {missing}")
        group.objects.get_or_create(name=role)[0].permissions.add(*found)
