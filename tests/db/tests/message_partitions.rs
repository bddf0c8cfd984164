//! Where this project owns `realtime.messages` (plain PostgreSQL), it has upstream's
//! shape (migration 20261127173000): partitioned by day, keyed by (id, inserted_at),
//! today's and the next days' partitions made and old ones dropped by
//! `private.keep_message_partitions`, which the scheduler runs at least daily. (On
//! Supabase's own table nothing is touched: tests/db/tests/migrations.rs.)

use db_tests::connect;

/// The advisory lock these tests take, so they run one after the other.
const PARTITION_TESTS: i64 = 20_261_127_173_000;

#[tokio::test]
async fn messages_are_partitioned_by_day_as_upstream_and_a_send_lands_in_today_s_partition() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    // One test of this file at a time: making a partition locks the whole table, and two
    // such transactions side by side deadlock.
    client.batch_execute(&format!("select pg_advisory_xact_lock({PARTITION_TESTS})")).await.unwrap();
    // As the scheduler runs it (the stack may have been started yesterday).
    client.execute("select private.keep_message_partitions()", &[]).await.expect("the upkeep");
    let kind: String = client
        .query_one("select relkind::text from pg_class where oid = 'realtime.messages'::regclass", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kind, "p", "partitioned");
    let key: String = client
        .query_one(
            "select string_agg(a.attname, ',' order by array_position(i.indkey, a.attnum))
               from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
              where i.indrelid = 'realtime.messages'::regclass and i.indisprimary",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(key, "id,inserted_at");
    let ahead: i64 = client
        .query_one(
            "select count(*) from generate_series(current_date, current_date + 3, interval '1 day') d
              where to_regclass(format('realtime.messages_%s', to_char(d, 'YYYY_MM_DD'))) is not null",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ahead, 4, "today's partition and the next three days'");
    client.execute("select realtime.send('{\"n\": 1}', 'probe', 'partitions:test', false)", &[]).await.unwrap();
    let landed: String = client
        .query_one("select tableoid::regclass::text from realtime.messages where topic = 'partitions:test'", &[])
        .await
        .unwrap()
        .get(0);
    let today: String = client
        .query_one("select 'realtime.messages_' || to_char(current_date, 'YYYY_MM_DD')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(landed, today);
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn old_days_are_dropped_and_the_default_partition_is_trimmed() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    // One test of this file at a time: making a partition locks the whole table, and two
    // such transactions side by side deadlock.
    client.batch_execute(&format!("select pg_advisory_xact_lock({PARTITION_TESTS})")).await.unwrap();
    client
        .batch_execute(
            "do $$ begin
                 execute format('create table realtime.messages_%s partition of realtime.messages for values from (%L) to (%L)',
                                to_char(current_date - 10, 'YYYY_MM_DD'), current_date - 10, current_date - 9);
             end $$;
             insert into realtime.messages (topic, extension, event, payload, inserted_at)
             values ('partitions:old', 'broadcast', 'e', '{}', current_date - 20);",
        )
        .await
        .expect("an old day, and a row the default partition caught");
    client.execute("select private.keep_message_partitions()", &[]).await.expect("the upkeep");
    let old_day: Option<String> = client
        .query_one(
            "select to_regclass(format('realtime.messages_%s', to_char(current_date - 10, 'YYYY_MM_DD')))::text",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(old_day, None, "a day older than three is dropped");
    let caught: i64 = client
        .query_one("select count(*) from realtime.messages where topic = 'partitions:old'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(caught, 0, "the default partition is trimmed the same way");
    let next: bool =
        client.query_one("select private.run_due_jobs() <= (current_date + 1)::timestamptz", &[]).await.unwrap().get(0);
    assert!(next, "the scheduler comes back by tomorrow to keep the partitions");
    client.batch_execute("rollback").await.unwrap();
}
