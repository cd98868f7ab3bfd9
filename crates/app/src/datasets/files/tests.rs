use serde_json::json;

use super::csv_file::write_csv;
use super::jsonl_file::write_jsonl;
use super::*;
use promptrefine_core::DatasetItem;

fn import_error(r: Result<Vec<ItemContent>>) -> (u64, String, String) {
    match r {
        Err(AppError::InvalidImport { line, violations }) => {
            let e = &violations.0[0];
            (line, e.field.clone(), e.rule.clone())
        }
        other => panic!("not an import error: {other:?}"),
    }
}

#[test]
fn csv_columns_become_variables_expected_and_metadata() {
    let items = parse_csv(
        b"\xEF\xBB\xBFcity,expected,metadata.source\nParis,\"France, the capital\",atlas\nOslo,,\n",
    )
    .unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].variables["city"], "Paris");
    assert_eq!(items[0].expected, Some(json!("France, the capital")));
    assert_eq!(items[0].metadata["source"], json!("atlas"));
    assert_eq!(
        items[1].expected, None,
        "an empty expected cell is no answer"
    );
    assert!(items[1].metadata.is_empty());
}

#[test]
fn csv_problems_name_the_line_and_the_column() {
    assert_eq!(
        import_error(parse_csv(b"a,b\n1,2\n3\n")),
        (3, "row".into(), "count".into())
    );
    // A browser's form sends a textarea with CRLF line ends.
    assert_eq!(
        import_error(parse_csv(b"a,b\r\n1,2\r\n3\r\n")),
        (3, "row".into(), "count".into())
    );
    assert_eq!(
        import_error(parse_csv(b"a,b\r\n1,2\r\n3")),
        (3, "row".into(), "count".into())
    );
    assert_eq!(
        import_error(parse_csv(b"a,b,a\n1,2,3\n")),
        (1, "a".into(), "duplicate".into())
    );
    assert_eq!(
        import_error(parse_csv(b"a,not valid\n1,2\n")),
        (1, "not valid".into(), "format".into())
    );
    assert_eq!(
        import_error(parse_csv(b"a,b\n1,\xff\n")),
        (2, "b".into(), "characters".into())
    );
    assert_eq!(
        import_error(parse_csv(b"a,\n1,2\n")),
        (1, "column 2".into(), "required".into())
    );
    assert_eq!(
        import_error(parse_csv(b"a\n\"x\0\"\n")),
        (2, "a".into(), "characters".into())
    );
    // Lines counted across records: quoted line ends, CRLF, a late row.
    assert_eq!(
        import_error(parse_csv(b"a,b\r\n\"x\r\ny\",2\r\n3,4\r\n5,\xff\r\n")),
        (5, "b".into(), "characters".into())
    );
}

#[test]
fn a_large_csv_is_read_in_one_pass() {
    // Counting lines from the start for every row made this quadratic:
    // 100,000 rows took minutes. (Not a timing test: it only has to end.)
    let mut csv = String::from("q,expected\n");
    for i in 0..100_000 {
        csv.push_str(&format!("question {i},answer {i}\n"));
    }
    csv.push_str("\"x\u{0}\",last\n");
    let (line, column, _) = import_error(parse_csv(csv.as_bytes()));
    assert_eq!((line, column.as_str()), (100_002, "q"));
}

#[test]
fn jsonl_lines_are_items_and_problems_name_line_and_field() {
    let items = parse_jsonl(b"{\"variables\":{\"q\":\"hi\"},\"expected\":{\"n\":1}}\n\n{\"variables\":{},\"metadata\":{\"k\":true}}\r\n").unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].expected, Some(json!({ "n": 1 })));
    assert_eq!(items[1].metadata["k"], json!(true));
    // (file, (line, field, rule)) of the first problem.
    type Case<'a> = (&'a [u8], (u64, &'a str, &'a str));
    let cases: [Case; 6] = [
        (
            b"{\"variables\":{}}\n{\"variables\":{\"q\":1}}",
            (2, "variables[\"q\"]", "type"),
        ),
        (b"{\"variables\":{}, \"extra\":1}", (1, "extra", "unknown")),
        (b"{\"expected\":\"x\"}", (1, "variables", "required")),
        (b"{\"variables\":{}}\n{not json", (2, "line", "format")),
        (
            b"\n\n{\"variables\":{\"q\":\"\xff\"}}",
            (3, "line", "characters"),
        ),
        (b"[1]", (1, "line", "type")),
    ];
    for (input, (line, field, rule)) in cases {
        assert_eq!(
            import_error(parse_jsonl(input)),
            (line, field.to_string(), rule.to_string()),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
}

fn stored(content: ItemContent) -> DatasetItem {
    DatasetItem {
        id: promptrefine_core::ItemId::new(),
        revision_id: promptrefine_core::ItemRevisionId::new(),
        dataset_id: DatasetId::new(),
        variables: content.variables,
        expected: content.expected,
        metadata: content.metadata,
        from_version: 1,
        to_version: None,
        created_at: time::OffsetDateTime::UNIX_EPOCH,
    }
}

#[test]
fn exports_read_back_as_the_same_items() {
    let source = parse_jsonl(
        "{\"variables\":{\"a\":\"1, \\\"quoted\\\"\\nline\"},\"expected\":\"yes\",\"metadata\":{\"m\":\"x\"}}\n{\"variables\":{\"a\":\"é\"}}\n".as_bytes(),
    )
    .unwrap();
    let items: Vec<DatasetItem> = source.iter().cloned().map(stored).collect();
    assert_eq!(parse_jsonl(&write_jsonl(&items)).unwrap(), source);
    assert_eq!(parse_csv(&write_csv(&items).unwrap()).unwrap(), source);
}

#[test]
fn a_variable_named_like_a_special_column_cannot_go_to_csv() {
    let item = stored(ItemContent {
        variables: [("expected".to_string(), "x".to_string())].into(),
        ..ItemContent::default()
    });
    assert!(matches!(write_csv(&[item]), Err(AppError::Invalid(_))));
}
