"""What runs on a Databricks cluster: the Pipes entry point of every Spark-side step, and the deployment
that puts it and the project's wheel where jobs can install them. Depends on `dagster-pipes` only, never
on dagster."""
