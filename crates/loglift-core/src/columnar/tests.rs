use super::*;
use crate::spec::Spec;
use crate::sql::{read_rows, table_columns, ReadRowsError};
use parquet::file::reader::{FileReader, SerializedFileReader};

fn columns(name: &str) -> Vec<TableColumn> {
    let spec = Spec::parse(include_str!("../../../../spec/pipelines.yaml")).unwrap();
    table_columns(spec.pipeline(name).unwrap())
}

const ROW: &str = r#"{"id":"e1","name":"login","time":"2020-06-01 00:00:24.123456","visitor_id":null,"properties":{"a":"x","b":[1,2]},"extra":{"k":"v\tw"},"event_id":"e1","event_time":"2020-06-01 00:00:24.123456","source_object":"s3://lake/raw/a#v1","spec_version":3,"ingested_at":"2026-11-21 10:00:00.000000"}"#;

fn part_of(lines: &[String]) -> Vec<u8> {
    let mut part = ParquetPart::new(columns("app_logs")).unwrap();
    for line in lines {
        part.push_line(line.as_bytes()).unwrap();
    }
    assert_eq!(part.rows(), lines.len() as u64);
    part.finish().unwrap()
}

fn read_back(bytes: Vec<u8>, name: &str) -> Result<Vec<Vec<String>>, ReadRowsError<()>> {
    let decoder = RowDecoder::from_columns(columns(name));
    let mut rows = Vec::new();
    read_rows(io::BufReader::new(&bytes[..]), &decoder, |_, cells| {
        rows.push(cells.iter().map(|c| format!("{c:?}")).collect());
        Ok(())
    })?;
    Ok(rows)
}

#[test]
fn a_part_reads_back_as_the_lines_it_was_written_from() {
    let lines: Vec<String> = (0..2500)
        .map(|i| ROW.replace("\"e1\"", &format!("\"e{i}\"")) + "\n")
        .collect();
    let bytes = part_of(&lines);
    assert!(bytes.starts_with(MAGIC) && bytes.ends_with(MAGIC));
    let from_parquet = read_back(bytes, "app_logs").unwrap();
    let decoder = RowDecoder::from_columns(columns("app_logs"));
    let from_lines: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            let cells = decoder.decode(l.trim_end().as_bytes()).unwrap();
            cells.iter().map(|c| format!("{c:?}")).collect()
        })
        .collect();
    assert_eq!(from_parquet.len(), 2500);
    assert_eq!(from_parquet, from_lines);
    assert!(from_parquet[0].contains(&r#"Str("2020-06-01 00:00:24.123456")"#.to_owned()));
}

#[test]
fn the_file_has_the_table_columns_in_order_typed_with_required_system_columns() {
    let bytes = part_of(&[ROW.to_owned()]);
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
    let schema = reader.metadata().file_metadata().schema_descr();
    let described: Vec<String> = schema
        .columns()
        .iter()
        .map(|c| {
            format!(
                "{} {:?} {:?} {}",
                c.name(),
                c.physical_type(),
                c.logical_type_ref(),
                c.self_type().get_basic_info().repetition()
            )
        })
        .collect();
    let names: Vec<String> = columns("app_logs").into_iter().map(|c| c.name).collect();
    assert_eq!(
        described
            .iter()
            .map(|d| d.split(' ').next().unwrap())
            .collect::<Vec<_>>(),
        names
    );
    let find = |n: &str| {
        described
            .iter()
            .find(|d| d.starts_with(&format!("{n} ")))
            .unwrap()
    };
    assert!(
        find("time").contains("INT64")
            && find("time").contains("Timestamp")
            && find("time").contains("is_adjusted_to_u_t_c: true"),
        "{described:?}"
    );
    assert!(find("time").contains("MICROS"), "{described:?}");
    assert!(
        find("spec_version").starts_with("spec_version INT64")
            && find("spec_version").ends_with("REQUIRED"),
        "{described:?}"
    );
    assert!(
        find("event_id").contains("BYTE_ARRAY")
            && find("event_id").contains("String")
            && find("event_id").ends_with("REQUIRED")
    );
    assert!(find("extra").contains("String") && find("extra").ends_with("OPTIONAL"));
    let meta = reader.metadata().row_group(0);
    assert_eq!(meta.num_rows(), 1);
    assert!(format!("{:?}", meta.column(0).compression()).contains("ZSTD"));
}

#[test]
fn a_missing_column_reads_as_null_and_a_wrong_type_is_an_error() {
    // Written with app_logs' columns: a table with one more column reads it as null…
    let bytes = part_of(&[ROW.to_owned()]);
    let mut more = columns("app_logs");
    more.insert(
        1,
        TableColumn {
            name: "added".into(),
            kind: ColumnType::Int,
            byte_limit: None,
            not_null: false,
        },
    );
    let decoder = RowDecoder::from_columns(more.clone());
    let mut seen = Vec::new();
    read_parquet_rows::<(), _>(bytes::Bytes::from(bytes.clone()), &decoder, |_, cells| {
        seen.push(format!("{:?}", cells[1]));
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, ["Null"]);
    // …while a column of another type is refused with its name.
    more[1].name = "name".into();
    more.remove(2);
    let decoder = RowDecoder::from_columns(more);
    let Err(ParquetReadError::Row { row, error }) =
        read_parquet_rows::<(), _>(bytes::Bytes::from(bytes), &decoder, |_, _| Ok(()))
    else {
        panic!("read a string column as an integer")
    };
    assert_eq!(row, 1);
    assert!(error.message.contains("column `name`"), "{error}");
}

#[test]
fn a_truncated_file_is_invalid_data_not_a_panic() {
    let bytes = part_of(&[ROW.to_owned()]);
    for cut in [4, bytes.len() / 2, bytes.len() - 1] {
        let mut broken = bytes[..cut].to_vec();
        broken.extend_from_slice(MAGIC);
        match read_back(broken, "app_logs") {
            Err(ReadRowsError::Read(e)) => assert_eq!(e.kind(), io::ErrorKind::InvalidData),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn a_null_in_a_required_column_is_refused_before_it_is_written() {
    let mut part = ParquetPart::new(columns("app_logs")).unwrap();
    let line = ROW.replace(r#""event_id":"e1""#, r#""event_id":null"#);
    let err = part.push_line(line.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("event_id"), "{err}");
    assert_eq!(part.rows(), 0);
}
