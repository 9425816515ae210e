"""Stock: what each account may sell (the available quantity per SKU)."""
