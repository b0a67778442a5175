//! Field lengths: what Higher Logic is sent has limits (`higher_logic::limits`), enforced where
//! data comes in, with a message naming the field (and at import the line), never cut.

use super::*;

both_engines!(
    a_too_long_bio_is_refused_everywhere,
    |db: TestDb| async move {
        let (store, double) = setup(&db).await;
        let bio = "x".repeat(1_000_000);
        let csv = format!(
            "member_key,first_name,bio\nOK1,Ann,Short\nBIG1,Bob,{bio}\nOK2,Cy,{}\n",
            "y".repeat(10_000)
        );
        let err = store
            .import_csv("test", csv.as_bytes(), false)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(
                "line 3: bio is 1000000 characters long; Higher Logic takes at most 10000"
            ),
            "{text}"
        );
        assert!(
            !text.contains("line 4"),
            "10,000 characters are allowed: {text}"
        );
        assert_eq!(store.count_members().await.unwrap(), 0, "nothing imported");

        // The store's checks, which the console, the admin API and the CLI go through.
        add(&store, "K1", "North", true).await;
        let mut k1 = store.member("K1").await.unwrap().data;
        k1.bio = Some("z".repeat(10_001));
        let err = store.update_member("test", "K1", k1).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("bio is 10001 characters long; Higher Logic takes at most 10000"),
            "{err}"
        );
        let err = store
            .set_field_value("test", "K1", "expertise", &"e".repeat(501))
            .await
            .unwrap_err();
        assert!(
        err.to_string().contains(
            "the value of field expertise is 501 characters long; Higher Logic takes at most 500"
        ),
        "{err}"
    );
        // Nothing too long ever reaches Higher Logic.
        sync_north(&store).await;
        drain(&store).await;
        assert_eq!(
            double.with(|s| s.detail("K1", "Bio")),
            Some("K1 writes".to_string())
        );
    }
);
