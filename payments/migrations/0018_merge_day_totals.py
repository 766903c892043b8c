"""Joins the day totals (0015, 0016_customer_day_counts) with main's line from 0014
(0016_platform_fee, 0017_payout_detail_index): both only add, in independent tables and
columns."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0016_customer_day_counts'),
        ('payments', '0017_payout_detail_index'),
    ]

    operations = [
    ]
