//! The privacy core: inventory covers the schema, data is encrypted at rest,
//! erasure shreds, the policy is generated.

use crate::{both, helpers::*};
use officecomms::{
    platform::mail::{self, OutgoingMail, Recipient},
    privacy::subjects,
};

both! {
    async fn every_column_of_the_schema_is_declared_in_the_inventory(backend) {
        let app = TestApp::spawn(backend).await;
        let columns = app.state.db.columns().await.unwrap();
        assert!(columns.len() > 20, "schema read: {columns:?}");
        let (undeclared, missing) = app.state.registry.inventory.undeclared(&columns);
        assert!(undeclared.is_empty(), "columns not in the data inventory: {undeclared:?}");
        assert!(missing.is_empty(), "inventory names columns the schema lacks: {missing:?}");
    }

    async fn a_migration_adding_an_undeclared_personal_column_is_caught(backend) {
        let app = TestApp::spawn(backend).await;
        sqlx::query("ALTER TABLE subjects ADD COLUMN phone TEXT").execute(&app.state.db.pool).await.unwrap();
        let (undeclared, _) = app.state.registry.inventory.undeclared(&app.state.db.columns().await.unwrap());
        assert_eq!(undeclared, vec!["subjects.phone".to_string()]);
    }

    async fn personal_data_is_encrypted_at_rest_and_erasure_shreds_it(backend) {
        // No worker: the mail must still be waiting when the subject is erased.
        let app = TestApp::spawn_with(backend, |c| c.workers = false).await;
        let state = &app.state;
        let mut tx = state.db.begin().await.unwrap();
        let subject = subjects::find_or_create(&mut tx, &state.keyring, "Ann@Example.com").await.unwrap();
        let mail = OutgoingMail { to: "ann@example.com".into(), subject: "Hi".into(), text: "secret words".into(), html: None, headers: vec![] };
        mail::enqueue(&mut tx, &state.keyring, &state.site(), Recipient::Subject(&subject), "t", "t:1", &mail).await.unwrap();
        tx.commit().await.unwrap();

        // Found again by email, case-insensitively, through the blind index.
        let again = subjects::find(&state.db, &state.keyring, " ann@example.COM ").await.unwrap().unwrap();
        assert_eq!(again.id, subject.id);
        let (payload, index): (Vec<u8>, Vec<u8>) = sqlx::query_as(
            "SELECT o.payload, s.email_index FROM outbox o JOIN subjects s ON s.id = o.subject_id",
        ).fetch_one(&state.db.pool).await.unwrap();
        for stored in [&payload, &index] {
            let text = String::from_utf8_lossy(stored).to_lowercase();
            assert!(!text.contains("ann@example.com") && !text.contains("secret words"));
        }

        let mut tx = state.db.begin().await.unwrap();
        subjects::shred(&mut tx, subject.id).await.unwrap();
        tx.commit().await.unwrap();
        assert!(subjects::find(&state.db, &state.keyring, "ann@example.com").await.unwrap().is_none());
        mail::deliver_due(state).await.unwrap();
        let (status,): (String,) = sqlx::query_as("SELECT status FROM outbox WHERE dedupe_key = 't:1'")
            .fetch_one(&state.db.pool).await.unwrap();
        assert_eq!(status, "cancelled", "a shredded subject's mail cannot be read, so it is not sent");
        assert!(app.eml_files().is_empty());
    }

    async fn the_privacy_page_is_generated_from_the_inventory(backend) {
        let app = TestApp::spawn(backend).await;
        let (status, body) = app.get_text("/privacy").await;
        assert_eq!(status, 200);
        for (_, field) in app.state.registry.inventory.fields() {
            assert!(body.contains(field.label), "policy page lacks {}", field.label);
        }
        for promise in ["We honour Do Not Track", "under 13", "within 7 business days", "never sold, traded", "removes you from all correspondence"] {
            assert!(body.contains(promise), "{promise}");
        }
        let version = officecomms::privacy::policy::generate(&app.state.site(), &app.state.registry.inventory).version;
        assert!(body.contains(&format!("data-policy-version=\"{version}\"")));
    }
}
