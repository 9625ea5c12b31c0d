"""Rate limits: fixed windows counted in DynamoDB, admitted locally from leased batches."""
