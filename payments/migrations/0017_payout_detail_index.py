# A payout's contents (its items' totals by type) read from the index alone on PostgreSQL: the
# payout index carries the columns the aggregate needs (bench payouts: a 100,000-item payout's
# cold detail page read every item's heap row). The new index is built before the old one goes,
# so a payout's lookups always have one.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_enrolmentlink"),
        ("payments", "0016_platform_fee"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="balancetransaction",
            index=models.Index(
                fields=["payout", "processor_created_at", "id"],
                include=("type", "amount", "fee", "net", "processor_source_id"),
                name="balance_txn_payout_items",
            ),
        ),
        migrations.RemoveIndex(
            model_name="balancetransaction",
            name="balance_txn_payout",
        ),
    ]
