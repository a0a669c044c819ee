"""The vocabulary of the demo brand: regions and cities, malls, names, tags.

Plain data for ``wecom.sandbox.brand``; edit freely, generation stays deterministic per seed.
"""

REGIONS = [
    ("华东大区", ["上海", "杭州", "南京", "苏州", "宁波", "无锡"]),
    ("华南大区", ["广州", "深圳", "厦门", "福州", "南宁", "海口"]),
    ("华北大区", ["北京", "天津", "石家庄", "太原", "呼和浩特", "济南"]),
    ("西南大区", ["成都", "重庆", "昆明", "贵阳", "拉萨"]),
    ("华中大区", ["武汉", "长沙", "郑州", "南昌", "合肥"]),
    ("东北大区", ["沈阳", "大连", "长春", "哈尔滨"]),
    ("西北大区", ["西安", "兰州", "银川", "西宁", "乌鲁木齐"]),
]
MALLS = ["万象城", "恒隆广场", "国金中心", "太古里", "大悦城", "银泰中心", "万达广场", "来福士", "SKP", "IFS"]
SURNAMES = [
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"), ("黄", "huang"),
    ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"), ("马", "ma"), ("朱", "zhu"),
    ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("林", "lin"), ("罗", "luo"), ("高", "gao"), ("郑", "zheng"),
    ("梁", "liang"), ("谢", "xie"), ("宋", "song"), ("唐", "tang"), ("许", "xu"), ("韩", "han"), ("冯", "feng"),
]  # fmt: skip
GIVEN_NAMES = [
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"), ("强", "qiang"),
    ("磊", "lei"), ("洋", "yang"), ("艳", "yan"), ("婷", "ting"), ("雪", "xue"), ("琳", "lin"), ("晨", "chen"),
    ("欣怡", "xinyi"), ("梓涵", "zihan"), ("思琪", "siqi"), ("雨桐", "yutong"), ("子轩", "zixuan"),
    ("浩然", "haoran"), ("佳怡", "jiayi"), ("嘉欣", "jiaxin"), ("晓明", "xiaoming"),
    ("一诺", "yinuo"), ("可馨", "kexin"), ("诗涵", "shihan"),
]  # fmt: skip
NICKNAMES = ["Lily", "Amy", "Coco", "Vivian", "Grace", "Cherry", "Kiki", "Luna", "Mia", "Tina", "Jack", "Leo", "Ken"]
POSITIONS = ["美容顾问", "资深美容顾问", "店长", "副店长", "彩妆师"]
# (group name, is_tier, [(tag name, weight)])
TAG_GROUPS = [
    ("会员等级", True, [("普通会员", 50), ("银卡会员", 30), ("金卡会员", 15), ("黑金会员", 5)]),
    ("兴趣偏好", False, [("护肤", 1), ("彩妆", 1), ("香氛", 1), ("珠宝", 1), ("腕表", 1)]),
    ("客户来源", False, [("门店到访", 3), ("品牌活动", 1), ("线上商城", 2)]),
]
# WeCom add_way codes with rough shares (wecom-api.md §4).
ADD_WAYS = [(1, 45), (2, 8), (3, 8), (4, 10), (5, 10), (6, 14), (202, 5)]
