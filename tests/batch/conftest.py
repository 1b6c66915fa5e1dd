"""The moto S3 fixtures (`s3_server`, `s3`) live in tests/conftest.py, shared with tests/integration."""
