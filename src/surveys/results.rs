//! Survey results: counts, bars, averages and the Net Promoter Score per
//! question, the free-text answers, and the CSV export.

use super::{Kind, Question, Survey, db};
use crate::{
    AppState,
    platform::{crypto::DataKey, csv::Csv, templates::format_time},
    privacy::{inventory, subjects},
};
use std::collections::HashMap;

/// One bar of a chart: drawn as inline SVG whose `width` attribute is the
/// percentage (the CSP forbids `style` attributes).
pub struct Bar {
    pub label: String,
    pub count: i64,
    pub percent: i64,
}

pub struct Nps {
    pub score: i64,
    pub promoters: i64,
    pub passives: i64,
    pub detractors: i64,
}

pub struct QuestionResult {
    pub prompt: String,
    pub kind: &'static str,
    /// Responses that answered this question.
    pub answered: i64,
    pub bars: Vec<Bar>,
    pub average: String,
    pub nps: Option<Nps>,
    /// How many free-text answers it has (their words are personal
    /// answers, shown to admins only: [`personal`]).
    pub texts_total: usize,
}

pub struct Results {
    pub responses: i64,
    pub questions: Vec<QuestionResult>,
}

fn percent(part: i64, whole: i64) -> i64 {
    if whole == 0 {
        0
    } else {
        (part * 100 + whole / 2) / whole
    }
}

/// Net Promoter Score from `(score 0–10, count)`: % promoters (9–10)
/// minus % detractors (0–6), rounded, from −100 to 100.
pub fn nps(counts: &[(i64, i64)]) -> Option<Nps> {
    let total: i64 = counts.iter().map(|(_, c)| c).sum();
    if total == 0 {
        return None;
    }
    let sum = |range: std::ops::RangeInclusive<i64>| -> i64 {
        counts
            .iter()
            .filter(|(v, _)| range.contains(v))
            .map(|(_, c)| c)
            .sum()
    };
    let (promoters, passives, detractors) = (sum(9..=10), sum(7..=8), sum(0..=6));
    let score = ((promoters - detractors) as f64 * 100.0 / total as f64).round() as i64;
    Some(Nps {
        score,
        promoters,
        passives,
        detractors,
    })
}

/// Keys to open sealed answers: a subject's key, or the system key for
/// anonymous ones. Erased subjects have none (their rows are gone anyway).
pub struct Keys<'a> {
    state: &'a AppState,
    cache: HashMap<i64, Option<DataKey>>,
}

impl<'a> Keys<'a> {
    pub fn new(state: &'a AppState) -> Keys<'a> {
        Keys {
            state,
            cache: HashMap::new(),
        }
    }

    pub async fn open(
        &mut self,
        subject_id: Option<i64>,
        table: &str,
        column: &str,
        sealed: &[u8],
    ) -> anyhow::Result<String> {
        let context = inventory::context(table, column);
        let key = match subject_id {
            None => Some(self.state.keyring.system_key().clone()),
            Some(id) => match self.cache.get(&id) {
                Some(k) => k.clone(),
                None => {
                    let k = subjects::key(&self.state.db, &self.state.keyring, id).await?;
                    self.cache.insert(id, k.clone());
                    k
                }
            },
        };
        Ok(match key {
            Some(key) => key
                .decrypt_string(&context, sealed)
                .unwrap_or_else(|_| "(unreadable)".into()),
            None => "(erased)".into(),
        })
    }
}

pub async fn compute(
    state: &AppState,
    survey: &Survey,
    questions: &[Question],
) -> anyhow::Result<Results> {
    let responses = db::response_count(&state.db, survey.id).await?;
    let answered: HashMap<i64, i64> = db::answered_counts(&state.db, survey.id)
        .await?
        .into_iter()
        .collect();
    let mut counts: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
    for (question, choice, count) in db::choice_counts(&state.db, survey.id).await? {
        counts.entry(question).or_default().push((choice, count));
    }
    // Free text is personal: here it is only counted, never opened.
    let mut text_totals: HashMap<i64, usize> = HashMap::new();
    for a in db::answers(&state.db, survey.id).await? {
        if a.text_value.is_some() {
            *text_totals.entry(a.question_id).or_default() += 1;
        }
    }
    let questions = questions
        .iter()
        .map(|q| {
            let answered = answered.get(&q.id).copied().unwrap_or(0);
            let counts = counts.remove(&q.id).unwrap_or_default();
            let count_of = |v: i64| counts.iter().find(|(c, _)| *c == v).map_or(0, |(_, n)| *n);
            let bars = q
                .choices()
                .into_iter()
                .map(|(value, label)| {
                    let count = count_of(value);
                    Bar {
                        label,
                        count,
                        percent: percent(count, answered),
                    }
                })
                .collect();
            let total: i64 = counts.iter().map(|(_, n)| n).sum();
            let average = if matches!(q.kind, Kind::Rating | Kind::Nps) && total > 0 {
                let sum: i64 = counts.iter().map(|(v, n)| v * n).sum();
                format!("{:.1}", sum as f64 / total as f64)
            } else {
                String::new()
            };
            QuestionResult {
                prompt: q.prompt.clone(),
                kind: q.kind.label(),
                answered,
                bars,
                average,
                nps: if q.kind == Kind::Nps {
                    nps(&counts)
                } else {
                    None
                },
                texts_total: text_totals.get(&q.id).copied().unwrap_or(0),
            }
        })
        .collect();
    Ok(Results {
        responses,
        questions,
    })
}

/// The personal answers: every response as a row, one column per question
/// (choices by label, several joined with "; ", free text as typed), plus
/// name and email when the survey asks for them. For admins only, and each
/// read of them is audited by the caller.
pub struct Personal {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

pub async fn personal(
    state: &AppState,
    survey: &Survey,
    questions: &[Question],
) -> anyhow::Result<Personal> {
    let mut header = vec!["response".to_string(), "submitted_at".to_string()];
    if survey.collect_contact {
        header.push("name".into());
        header.push("email".into());
    }
    header.extend(questions.iter().map(|q| q.prompt.clone()));
    let mut by_response: HashMap<i64, Vec<db::AnswerRow>> = HashMap::new();
    for a in db::answers(&state.db, survey.id).await? {
        by_response.entry(a.response_id).or_default().push(a);
    }
    let mut keys = Keys::new(state);
    let mut rows = vec![];
    for r in db::responses(&state.db, survey.id).await? {
        let mut row = vec![r.id.to_string(), format_time(r.submitted_at)];
        if survey.collect_contact {
            for (column, sealed) in [("name", &r.name), ("email", &r.email)] {
                row.push(match sealed {
                    Some(s) => {
                        keys.open(r.subject_id, "survey_responses", column, s)
                            .await?
                    }
                    None => String::new(),
                });
            }
        }
        let answers = by_response.remove(&r.id).unwrap_or_default();
        for q in questions {
            let mut values = vec![];
            for a in answers.iter().filter(|a| a.question_id == q.id) {
                if let Some(choice) = a.choice {
                    values.push(q.label_of(choice));
                }
                if let Some(sealed) = &a.text_value {
                    values.push(
                        keys.open(a.subject_id, "survey_answers", "text_value", sealed)
                            .await?,
                    );
                }
            }
            row.push(values.join("; "));
        }
        rows.push(row);
    }
    Ok(Personal { header, rows })
}

impl Personal {
    pub fn csv(&self) -> anyhow::Result<Csv> {
        let mut out = Csv::new(&self.header)?;
        for row in &self.rows {
            out.row(row)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nps_is_promoters_minus_detractors() {
        assert!(nps(&[]).is_none());
        let n = nps(&[(10, 2), (9, 1), (8, 1), (3, 1)]).unwrap();
        assert_eq!((n.promoters, n.passives, n.detractors), (3, 1, 1));
        assert_eq!(n.score, 40);
        assert_eq!(nps(&[(0, 4)]).unwrap().score, -100);
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(2, 3), 67);
        assert_eq!(percent(0, 0), 0);
    }
}
