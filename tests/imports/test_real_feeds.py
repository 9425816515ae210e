"""Every real product feed in ../shared/fixtures/real/product-feeds/, read in place."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from tests.conftest import real_fixture
from tests.imports.helpers import import_file, messages, products

# file -> (status, imported, errors, warnings, {(severity, type): count})
EXPECTED = {
    # An Excel price list with a title block and no product id column: refused whole.
    "farm_pricelist_decimal_comma_euro.csv": ("failed", 0, 0, 0, {}),
    "gmc_atom_pallmann_store_fr.xml": ("completed", 305, 0, 0, {}),
    "gmc_rss_pallmann_store_fr.xml": ("completed", 305, 0, 0, {}),
    "gmc_csv_emirates_gifts_ar_rtl.csv": ("completed", 263, 0, 0, {}),
    # 10-digit fake GTINs: imported without them, one warning each.
    "gmc_tsv_emirates_gifts_en.tsv": (
        "completed",
        30,
        0,
        30,
        {("warning", "validation_error"): 30},
    ),
    "magento2_importexport_sample_catalog_product.csv": ("completed", 7, 0, 0, {}),
    "magento2_sampledata_configurable_women_tops.csv": ("completed", 50, 0, 0, {}),
    # Combinations reference their product by id and carry no name: no row is a product.
    "prestashop_docs_combinations_import_semicolon.csv": (
        "completed_with_errors",
        0,
        27,
        0,
        {("error", "missing_title"): 27},
    ),
    "prestashop_docs_products_import_semicolon.csv": (
        "completed",
        7,
        0,
        7,
        {("warning", "validation_error"): 7},
    ),
    # Variant rows forward-filled from their product row; the image-only row is no product;
    # barcodes mangled by a spreadsheet into 3.65275E+11 are dropped with a warning.
    "shopify_product_template.csv": ("completed", 16, 0, 16, {("warning", "validation_error"): 16}),
    "supplier_artikelstamm_utf8bom_tab.tsv": ("completed", 408, 0, 0, {}),
    "supplier_pricelist_pallmann_crlf.csv": ("completed", 149, 0, 0, {}),
    "woocommerce_classiccommerce_sample_products.csv": ("completed", 24, 0, 0, {}),
    # Variations without SKU have no id.
    "woocommerce_importer_test_sample.csv": (
        "completed_with_errors",
        3,
        4,
        0,
        {("error", "missing_id"): 4},
    ),
    "xtcommerce_froogle_latin1.tsv": ("completed", 84, 0, 0, {}),
    "xtcommerce_googlebase_latin1_mixed_eol.tsv": ("completed", 84, 0, 0, {}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_feed(store, name):
    path = real_fixture("product-feeds", name)
    status, imported, errors, warnings, kinds = EXPECTED[name]
    run = import_file(store, path)
    assert run.status == status, run.error_message
    assert (run.imported_count, run.error_count, run.warning_count) == (imported, errors, warnings)
    assert run.total_processed == run.imported_count + run.error_count
    assert Counter((m.severity, m.error_type) for m in messages(run)) == Counter(kinds)
    assert len(products(store)) == imported
    if status != "failed":
        again = import_file(store, path)
        assert (again.imported_count, again.updated_count, again.unchanged_count) == (
            0,
            0,
            imported,
        )
        # Unchanged rows are not re-read, but their warnings are still reported.
        assert (again.warning_count, again.error_count) == (warnings, errors)


def test_the_whole_set_is_covered():
    folder = real_fixture("product-feeds", "gmc_rss_pallmann_store_fr.xml").parent
    assert {p.name for p in folder.iterdir()} == set(EXPECTED)


def test_latin1_feed_with_embedded_utf8_reads_clean(store):
    import_file(store, real_fixture("product-feeds", "xtcommerce_googlebase_latin1_mixed_eol.tsv"))
    titles = {p.translation("en").title for p in products(store).values()}
    assert "Verglasungsdichtung Kömmerling VGM 10350" in titles
    assert not any("Ã" in t for t in titles)
    product = products(store)["10"]
    assert product.price == Decimal("15.95") and product.currency == "EUR"
    assert product.availability == "in_stock"


def test_google_rss_fields(store):
    import_file(
        store, real_fixture("product-feeds", "gmc_rss_pallmann_store_fr.xml"), language="fr"
    )
    product = products(store)["00c13ddd-13bb-41dc-a38b-34095160b65a"]
    assert product.translation("fr").title == "PALL-X 333C N°8 Stylish Chestnut 0,2L"
    assert product.currency == "EUR" and product.brand == "Pallmann"
    assert product.availability == "in_stock"
    assert product.extra["g:shipping.g:country"] == "FR"


def test_arabic_titles_and_amount_with_code(store):
    import_file(store, real_fixture("product-feeds", "gmc_csv_emirates_gifts_ar_rtl.csv"))
    product = products(store)["perfume_1"]
    assert product.translation("en").title == "عطر كوكو شانيل 100 مل"
    assert (product.price, product.sale_price, product.currency) == (
        Decimal("352"),
        Decimal("252"),
        "AED",
    )


def test_shopify_variants_inherit_their_product(store):
    import_file(store, real_fixture("product-feeds", "shopify_product_template.csv"))
    variant = products(store)["SRT_COT_122"]
    assert variant.translation("en").title == "Example T-Shirt"
    assert variant.item_group_id == "example-shirt" and variant.brand is not None


def test_magento_multiline_cells(store):
    import_file(
        store, real_fixture("product-feeds", "magento2_sampledata_configurable_women_tops.csv")
    )
    product = products(store)["WB01"]
    assert product.extra["category"].startswith("Women\nTops\n")
    assert product.price == Decimal("39")
