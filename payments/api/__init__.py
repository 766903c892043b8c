"""The payments REST API (/api/v1/): one view per resource path, input and output serializers."""
