"""The Podium cockpit inside Airflow: the fleet's house × connector matrix and each pair's drill-down."""
