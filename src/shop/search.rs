//! Order search over sealed text: each order's reference, name, email,
//! phone, company, notes and the services asked for are in a blind word
//! index (`order_search_terms`, keyed hashes only), written with the order.

use super::db;
use crate::{
    platform::{
        Platform,
        db::Tx,
        search_index::{self, Record, WordIndex},
    },
    privacy::subjects::Subject,
};
use anyhow::Context;

/// The orders' blind word index.
pub const WORDS: WordIndex = WordIndex {
    table: "order_search_terms",
    kind: "order",
    dated: true,
};

/// Indexes a new order's words, in the transaction that stores it.
pub async fn index_order(
    state: &Platform,
    tx: &mut Tx,
    order: Record,
    texts: &[&str],
) -> anyhow::Result<()> {
    WORDS
        .add(tx, &state.keyring, order, texts)
        .await
        .context("indexing an order's words")?;
    Ok(())
}

/// Indexes the orders stored before the index existed (see the tickets').
pub async fn backfill(state: &Platform) -> anyhow::Result<usize> {
    let mut below = search_index::backfill_mark(&state.db, "orders").await?;
    let mut done = 0;
    while below > 1 {
        let orders = db::orders_below(&state.db, below, 200).await?;
        let next = orders.iter().map(|o| o.id).min().unwrap_or(1);
        let mut tx = state.db.begin().await?;
        for order in orders {
            let Some(key) =
                crate::privacy::subjects::key(&state.db, &state.keyring, order.subject_id).await?
            else {
                continue;
            };
            let subject = Subject {
                id: order.subject_id,
                key,
            };
            let mut texts = vec![order.reference.clone()];
            for (column, sealed) in [
                ("name", Some(&order.name)),
                ("email", Some(&order.email)),
                ("phone", order.phone.as_ref()),
                ("company", order.company.as_ref()),
                ("notes", order.notes.as_ref()),
            ] {
                if let Some(sealed) = sealed {
                    texts.push(subject.open("orders", column, sealed)?);
                }
            }
            for line in db::lines(&state.db, order.id).await? {
                texts.push(line.name);
            }
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            let record = Record {
                id: order.id,
                subject_id: order.subject_id,
                created_at: order.created_at,
            };
            index_order(state, &mut tx, record, &texts).await?;
            done += 1;
        }
        search_index::set_backfill_mark(&mut tx, "orders", next).await?;
        tx.commit().await?;
        below = next;
    }
    if done > 0 {
        tracing::info!(orders = done, "indexed the words of earlier orders");
    }
    Ok(done)
}
