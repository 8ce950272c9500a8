"""Starter texts, shared by every teacher (assigned to no classroom): public-domain fables and
Tang poems, short enough for one reading."""

from django.db import migrations

JACOBS = "Joseph Jacobs, The Fables of Aesop (1894), public domain"
STARTER_TEXTS = [
    {
        "title": "The Fox and the Grapes",
        "language": "en",
        "source": JACOBS,
        "text": (
            "One hot summer's day a Fox was strolling through an orchard till he came to a bunch of Grapes just "
            "ripening on a vine which had been trained over a lofty branch. \"Just the thing to quench my thirst,\" "
            "quoth he. Drawing back a few paces, he took a run and a jump, and just missed the bunch. Turning round "
            "again with a One, Two, Three, he jumped up, but with no greater success. Again and again he tried after "
            "the tempting morsel, but at last had to give it up, and walked away with his nose in the air, saying: "
            "\"I am sure they are sour.\""
        ),
    },
    {
        "title": "The Wind and the Sun",
        "language": "en",
        "source": JACOBS,
        "text": (
            "The Wind and the Sun were disputing which was the stronger. Suddenly they saw a traveller coming down "
            "the road, and the Sun said: \"I see a way to decide our dispute. Whichever of us can cause that "
            "traveller to take off his cloak shall be regarded as the stronger. You begin.\" So the Sun retired "
            "behind a cloud, and the Wind began to blow as hard as it could upon the traveller. But the harder he "
            "blew the more closely did the traveller wrap his cloak round him, till at last the Wind had to give up "
            "in despair. Then the Sun came out and shone in all his glory upon the traveller, who soon found it too "
            "hot to walk with his cloak on."
        ),
    },
    {
        "title": "静夜思",
        "language": "zh",
        "source": "李白（唐，701–762），公有领域",
        "text": "床前明月光，疑是地上霜。举头望明月，低头思故乡。",
    },
    {
        "title": "春晓",
        "language": "zh",
        "source": "孟浩然（唐，689–740），公有领域",
        "text": "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。",
    },
]


def add_texts(apps, schema_editor):
    PracticeText = apps.get_model("reading", "PracticeText")
    for text in STARTER_TEXTS:
        PracticeText.objects.get_or_create(title=text["title"], language=text["language"], defaults=text)


def remove_texts(apps, schema_editor):
    PracticeText = apps.get_model("reading", "PracticeText")
    for text in STARTER_TEXTS:
        PracticeText.objects.filter(title=text["title"], created_by=None, attempts=None).delete()


class Migration(migrations.Migration):
    dependencies = [("reading", "0001_initial")]

    operations = [migrations.RunPython(add_texts, remove_texts)]
