"""Dashboards: tier distribution, migration between dates, tier trend, overdue follow-ups, follow-up activity and
the lifecycle funnel, each counted by one SQL aggregate in the scope of the user and drawn with ECharts."""
