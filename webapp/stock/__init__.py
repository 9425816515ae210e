"""Stock: levels per SKU and warehouse, movements, reservations, what each account may sell."""
