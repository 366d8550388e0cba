"""Who a caller is: credentials, principals and what they may do."""
