"""Stock: what can be sold, per account (PLACEHOLDER: the stock engine replaces this package)."""
