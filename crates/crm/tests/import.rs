//! Importing CRM data: both formats, errors that say where, all-or-nothing, idempotence.

use std::path::{Path, PathBuf};
use warmline_crm::BuiltinCrm;
use warmline_crm::import::{ImportError, import};
use warmline_domain::{Channel, CrmConnector, CustomerIdentity, OrderOwner};
use warmline_store::SqliteStore;

async fn store() -> SqliteStore {
    SqliteStore::in_memory().await.unwrap()
}

fn crm(store: &SqliteStore) -> BuiltinCrm {
    BuiltinCrm::new(store.reader_pool().clone(), store.writer_pool().clone())
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

async fn counts(store: &SqliteStore) -> Vec<i64> {
    let mut out = Vec::new();
    for table in [
        "SELECT count(*) FROM customers",
        "SELECT count(*) FROM customer_identities",
        "SELECT count(*) FROM customer_profiles",
        "SELECT count(*) FROM orders",
        "SELECT count(*) FROM order_items",
        "SELECT count(*) FROM cases",
    ] {
        let n: i64 = sqlx::query_scalar(table)
            .fetch_one(store.reader_pool())
            .await
            .unwrap();
        out.push(n);
    }
    out
}

const CUSTOMERS_CSV: &str = "\
key,name,tier,language,marketing_email,marketing_sms,lifetime_value,currency,emails,phones,external_ids
C-1,Ana Silva,gold,en,yes,no,120.50,USD,ana@example.com;ana.silva@example.net,(555) 010-0199,
C-2,Luc Martin,,fr,,,,,luc@example.org,,LM-2
";

const ORDERS_CSV: &str = "\
number,customer,email,status,placed,delivered,currency,total,ship_name,ship_line1,ship_line2,ship_city,ship_region,ship_postal_code,ship_country,carrier,tracking_number,tracking_url,sku,item_name,quantity,price,category,final_sale
JM-300000001,C-1,,delivered,-12d,-9d,USD,,Ana Silva,1 Main St,,Dayton,OH,45402,US,UPS,1Z1,,SKU-1,Mug,2,12.00,home,
JM-300000001,,,,,,,,,,,,,,,,,,SKU-2,Gift card,1,25,gift_card,no
JM-300000002,,guest@example.com,received,-5m,,CAD,,,,,,,,,,,,SKU-3,Tea,1,9.99,kitchen,
";

const CASES_CSV: &str = "\
id,customer,subject,status,opened
CS-1,C-1,Mug arrived chipped,open,-1d
";

#[tokio::test]
async fn a_folder_of_csv_files_imports_with_one_row_per_item() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "customers.csv", CUSTOMERS_CSV);
    write(dir.path(), "orders.csv", ORDERS_CSV);
    write(dir.path(), "cases.csv", CASES_CSV);
    write(dir.path(), "notes.txt", "not data: skipped");
    let store = store().await;
    let report = import(store.writer_pool(), dir.path()).await.unwrap();
    assert_eq!(report.files.len(), 3);
    assert_eq!(
        (report.customers, report.orders, report.items, report.cases),
        (2, 2, 3, 1)
    );
    let crm = crm(&store);
    let phone = CustomerIdentity {
        channel: Channel::Sms,
        external_id: "+15550100199".into(),
    };
    let ana = crm.find_customer(&phone).await.unwrap().unwrap();
    assert_eq!(ana.profile.tier.as_deref(), Some("gold"));
    assert!(ana.profile.consent.marketing_email && !ana.profile.consent.marketing_sms);
    assert_eq!(ana.profile.lifetime_value.unwrap().cents, 12_050);
    let orders = crm.recent_orders(&ana.reference, 5).await.unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].items.len(), 2);
    assert_eq!(
        orders[0].total_cents,
        2 * 1200 + 2500,
        "total from the items"
    );
    let guest = OrderOwner::Email("guest@example.com".into());
    assert!(crm.order("JM-300000002", &guest).await.unwrap().is_some());
    assert_eq!(crm.open_cases(&ana.reference).await.unwrap().len(), 1);
}

#[tokio::test]
async fn importing_twice_changes_nothing_and_updates_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = store().await;
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../knowledge/crm");
    let first = import(store.writer_pool(), &sample).await.unwrap();
    let before = counts(&store).await;
    let email = CustomerIdentity {
        channel: Channel::Email,
        external_id: "maya.thompson@example.com".into(),
    };
    let maya = crm(&store).find_customer(&email).await.unwrap().unwrap();
    let second = import(store.writer_pool(), &sample).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(counts(&store).await, before);
    let again = crm(&store).find_customer(&email).await.unwrap().unwrap();
    assert_eq!(again.reference, maya.reference, "ids stay stable");

    // A changed record updates the same rows.
    let changed = r#"{"customers": [{"key": "C-1001", "name": "Maya T.", "tier": "gold",
        "emails": ["maya.thompson@example.com"]}]}"#;
    import(
        store.writer_pool(),
        &write(dir.path(), "update.json", changed),
    )
    .await
    .unwrap();
    assert_eq!(counts(&store).await, before);
    let updated = crm(&store).find_customer(&email).await.unwrap().unwrap();
    assert_eq!(updated.reference, maya.reference);
    assert_eq!(updated.profile.tier.as_deref(), Some("gold"));
}

async fn error(files: &[(&str, &str)], target: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        write(dir.path(), name, text);
    }
    let path = match target {
        Some(name) => dir.path().join(name),
        None => dir.path().to_owned(),
    };
    let store = store().await;
    let err = import(store.writer_pool(), &path).await.unwrap_err();
    assert_eq!(counts(&store).await, vec![0; 6], "nothing written: {err}");
    err.to_string()
}

#[tokio::test]
async fn errors_name_the_file_and_the_line_or_record() {
    let bad_status = ORDERS_CSV.replace("received", "teleported");
    let err = error(
        &[
            ("customers.csv", CUSTOMERS_CSV),
            ("orders.csv", &bad_status),
        ],
        None,
    )
    .await;
    assert!(err.contains("orders.csv: line 4: `status`"), "{err}");
    assert!(err.contains("teleported"), "{err}");

    let bad_phone = CUSTOMERS_CSV.replace("(555) 010-0199", "call me");
    let err = error(&[("customers.csv", &bad_phone)], Some("customers.csv")).await;
    assert!(err.contains("customers.csv: line 2: phones[0]"), "{err}");

    let conflicting =
        ORDERS_CSV.replace(",,,,,,,,,,,,,,,,,,SKU-2", ",,,shipped,,,,,,,,,,,,,,,SKU-2");
    let err = error(
        &[
            ("customers.csv", CUSTOMERS_CSV),
            ("orders.csv", &conflicting),
        ],
        None,
    )
    .await;
    assert!(
        err.contains("line 3: `status` differs from the same order's line 2"),
        "{err}"
    );

    let unknown_column = "id,customer,subject,status,opened,priority\nCS-1,C-1,Hi,open,-1d,high\n";
    let err = error(&[("cases.csv", unknown_column)], None).await;
    assert!(
        err.contains("cases.csv: line 2") && err.contains("priority"),
        "{err}"
    );

    let json = r#"{"customers": [
        {"key": "C-1", "emails": ["a@example.com"]},
        {"key": "C-2", "emails": ["not-an-email"]}
    ]}"#;
    let err = error(&[("crm.json", json)], Some("crm.json")).await;
    assert!(
        err.contains("crm.json: customers[1] (C-2): emails[0]"),
        "{err}"
    );

    let err = error(&[("crm.json", "{\"customers\": [\n{\"key\": }]}")], None).await;
    assert!(err.contains("crm.json: line 2: "), "{err}");

    let typo = r#"{"orders": [{"number": "JM-1", "email": "a@example.com", "status": "received",
        "placed": "-1d", "currency": "USD", "itmes": []}]}"#;
    let err = error(&[("crm.json", typo)], None).await;
    assert!(err.contains("unknown field `itmes`"), "{err}");
}

#[tokio::test]
async fn a_failed_import_writes_nothing() {
    // Customers are valid and written first; the order's unknown customer rolls them back.
    let orphan = ORDERS_CSV.replace("JM-300000001,C-1,", "JM-300000001,C-9,");
    let err = error(
        &[("customers.csv", CUSTOMERS_CSV), ("orders.csv", &orphan)],
        None,
    )
    .await;
    assert!(
        err.contains("orders.csv: line 2: unknown customer \"C-9\""),
        "{err}"
    );

    let twice = r#"{"customers": [
        {"key": "C-1", "emails": ["a@example.com"]},
        {"key": "C-2", "emails": ["A@example.com"]}
    ]}"#;
    let err = error(&[("crm.json", twice)], None).await;
    assert!(
        err.contains("customers[1] (C-2)") && err.contains("customers[0] (C-1)"),
        "{err}"
    );
}

#[tokio::test]
async fn only_json_and_named_csv_files_are_accepted() {
    let err = error(&[("customers.txt", CUSTOMERS_CSV)], Some("customers.txt")).await;
    assert!(err.contains("not a .json or .csv file"), "{err}");
    let err = error(&[("people.csv", CUSTOMERS_CSV)], None).await;
    assert!(
        err.contains("must end with customers, orders or cases"),
        "{err}"
    );
    let store = store().await;
    let missing = import(store.writer_pool(), Path::new("/no/such/file.json")).await;
    assert!(
        matches!(missing, Err(ImportError::Read { .. })),
        "{missing:?}"
    );
}
