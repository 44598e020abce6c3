//! Queries of the surveys domain.

use super::{Kind, Question, Survey};
use crate::platform::{
    db::{Db, Tx},
    now_ms,
};

type SurveyRow = (
    i64,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
);

fn to_survey(r: SurveyRow) -> Survey {
    Survey {
        id: r.0,
        slug: r.1,
        title: r.2,
        intro: r.3,
        opens_at: r.4,
        closes_at: r.5,
        collect_contact: r.6 != 0,
        created_at: r.7,
    }
}

pub struct SurveyFields<'a> {
    pub slug: &'a str,
    pub title: &'a str,
    pub intro: &'a str,
    pub opens_at: Option<i64>,
    pub closes_at: Option<i64>,
    pub collect_contact: bool,
}

pub async fn insert_survey(tx: &mut Tx, s: &SurveyFields<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO surveys (slug, title, intro, opens_at, closes_at, collect_contact, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(s.slug)
    .bind(s.title)
    .bind(s.intro)
    .bind(s.opens_at)
    .bind(s.closes_at)
    .bind(i64::from(s.collect_contact))
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await
}

pub async fn update_survey(
    tx: &mut Tx,
    id: i64,
    s: &SurveyFields<'_>,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE surveys SET slug = $1, title = $2, intro = $3, opens_at = $4, closes_at = $5, \
         collect_contact = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(s.slug)
    .bind(s.title)
    .bind(s.intro)
    .bind(s.opens_at)
    .bind(s.closes_at)
    .bind(i64::from(s.collect_contact))
    .bind(now_ms())
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub async fn survey(db: &Db, id: i64) -> Result<Option<Survey>, sqlx::Error> {
    let row: Option<SurveyRow> = sqlx::query_as(
        "SELECT id, slug, title, intro, opens_at, closes_at, collect_contact, created_at \
         FROM surveys WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(to_survey))
}

pub async fn survey_by_slug(db: &Db, slug: &str) -> Result<Option<Survey>, sqlx::Error> {
    let row: Option<SurveyRow> = sqlx::query_as(
        "SELECT id, slug, title, intro, opens_at, closes_at, collect_contact, created_at \
         FROM surveys WHERE slug = $1",
    )
    .bind(slug)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(to_survey))
}

/// Surveys open now, newest first.
pub async fn open_surveys(db: &Db, now: i64) -> Result<Vec<Survey>, sqlx::Error> {
    let rows: Vec<SurveyRow> = sqlx::query_as(
        "SELECT id, slug, title, intro, opens_at, closes_at, collect_contact, created_at \
         FROM surveys WHERE opens_at IS NOT NULL AND opens_at <= $1 \
         AND (closes_at IS NULL OR closes_at > $1) ORDER BY opens_at DESC, id DESC",
    )
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(to_survey).collect())
}

/// Every survey with its number of responses; `q` filters by title or slug.
pub async fn list_surveys(db: &Db, q: &str) -> Result<Vec<(Survey, i64)>, sqlx::Error> {
    type Row = (
        i64,
        String,
        String,
        String,
        Option<i64>,
        Option<i64>,
        i64,
        i64,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT s.id, s.slug, s.title, s.intro, s.opens_at, s.closes_at, s.collect_contact, s.created_at, \
         (SELECT COUNT(*) FROM survey_responses r WHERE r.survey_id = s.id) \
         FROM surveys s WHERE $1 = '' OR LOWER(s.title) LIKE $2 OR LOWER(s.slug) LIKE $2 \
         ORDER BY s.id DESC",
    )
    .bind(q)
    .bind(format!("%{}%", q.to_lowercase()))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (to_survey((r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7)), r.8))
        .collect())
}

type QuestionRow = (i64, i64, i64, String, String, String, i64);

fn to_question(r: QuestionRow) -> Question {
    Question {
        id: r.0,
        survey_id: r.1,
        position: r.2,
        kind: Kind::parse(&r.3).unwrap_or(Kind::Short),
        prompt: r.4,
        options: r.5.lines().map(str::to_string).collect(),
        required: r.6 != 0,
    }
}

pub async fn questions(db: &Db, survey_id: i64) -> Result<Vec<Question>, sqlx::Error> {
    let rows: Vec<QuestionRow> = sqlx::query_as(
        "SELECT id, survey_id, position, kind, prompt, options, required FROM survey_questions \
         WHERE survey_id = $1 ORDER BY position, id",
    )
    .bind(survey_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(to_question).collect())
}

pub async fn insert_question(
    tx: &mut Tx,
    survey_id: i64,
    kind: Kind,
    prompt: &str,
    options: &[String],
    required: bool,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO survey_questions (survey_id, position, kind, prompt, options, required) \
         VALUES ($1, (SELECT COALESCE(MAX(position), 0) + 1 FROM survey_questions WHERE survey_id = $1), \
         $2, $3, $4, $5) RETURNING id",
    )
    .bind(survey_id)
    .bind(kind.as_str())
    .bind(prompt)
    .bind(options.join("\n"))
    .bind(i64::from(required))
    .fetch_one(&mut **tx)
    .await
}

pub async fn update_question(
    tx: &mut Tx,
    id: i64,
    prompt: &str,
    options: &[String],
    required: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE survey_questions SET prompt = $1, options = $2, required = $3 WHERE id = $4",
    )
    .bind(prompt)
    .bind(options.join("\n"))
    .bind(i64::from(required))
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_position(tx: &mut Tx, id: i64, position: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE survey_questions SET position = $1 WHERE id = $2")
        .bind(position)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn delete_question(tx: &mut Tx, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM survey_questions WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn response_count(db: &Db, survey_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM survey_responses WHERE survey_id = $1")
        .bind(survey_id)
        .fetch_one(&db.pool)
        .await
}

pub struct NewResponse {
    pub survey_id: i64,
    pub marker: String,
    pub subject_id: Option<i64>,
    pub name: Option<Vec<u8>>,
    pub email: Option<Vec<u8>>,
}

/// Inserts a response; `None` when this form, or this person, already answered.
pub async fn insert_response(tx: &mut Tx, r: &NewResponse) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO survey_responses (survey_id, submitted_at, marker, subject_id, name, email) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(r.survey_id)
    .bind(now_ms())
    .bind(&r.marker)
    .bind(r.subject_id)
    .bind(&r.name)
    .bind(&r.email)
    .fetch_optional(&mut **tx)
    .await
}

pub async fn insert_answer(
    tx: &mut Tx,
    response_id: i64,
    question_id: i64,
    subject_id: Option<i64>,
    choice: Option<i64>,
    text_value: Option<Vec<u8>>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO survey_answers (response_id, question_id, subject_id, choice, text_value) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(response_id)
    .bind(question_id)
    .bind(subject_id)
    .bind(choice)
    .bind(text_value)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `(question, choice, count)` for every choice answer of a survey.
pub async fn choice_counts(db: &Db, survey_id: i64) -> Result<Vec<(i64, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.question_id, a.choice, COUNT(*) FROM survey_answers a \
         JOIN survey_questions q ON q.id = a.question_id \
         WHERE q.survey_id = $1 AND a.choice IS NOT NULL GROUP BY a.question_id, a.choice",
    )
    .bind(survey_id)
    .fetch_all(&db.pool)
    .await
}

/// `(question, number of responses that answered it)`.
pub async fn answered_counts(db: &Db, survey_id: i64) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.question_id, COUNT(DISTINCT a.response_id) FROM survey_answers a \
         JOIN survey_questions q ON q.id = a.question_id \
         WHERE q.survey_id = $1 GROUP BY a.question_id",
    )
    .bind(survey_id)
    .fetch_all(&db.pool)
    .await
}

/// A stored answer, text still sealed.
pub struct AnswerRow {
    pub response_id: i64,
    pub question_id: i64,
    pub subject_id: Option<i64>,
    pub choice: Option<i64>,
    pub text_value: Option<Vec<u8>>,
}

pub async fn answers(db: &Db, survey_id: i64) -> Result<Vec<AnswerRow>, sqlx::Error> {
    type Row = (i64, i64, Option<i64>, Option<i64>, Option<Vec<u8>>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT a.response_id, a.question_id, a.subject_id, a.choice, a.text_value \
         FROM survey_answers a JOIN survey_responses r ON r.id = a.response_id \
         WHERE r.survey_id = $1 ORDER BY a.response_id, a.id",
    )
    .bind(survey_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AnswerRow {
            response_id: r.0,
            question_id: r.1,
            subject_id: r.2,
            choice: r.3,
            text_value: r.4,
        })
        .collect())
}

/// A stored response, contact fields still sealed.
pub struct ResponseRow {
    pub id: i64,
    pub submitted_at: i64,
    pub subject_id: Option<i64>,
    pub name: Option<Vec<u8>>,
    pub email: Option<Vec<u8>>,
}

pub async fn responses(db: &Db, survey_id: i64) -> Result<Vec<ResponseRow>, sqlx::Error> {
    type Row = (i64, i64, Option<i64>, Option<Vec<u8>>, Option<Vec<u8>>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, submitted_at, subject_id, name, email FROM survey_responses \
         WHERE survey_id = $1 ORDER BY id",
    )
    .bind(survey_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ResponseRow {
            id: r.0,
            submitted_at: r.1,
            subject_id: r.2,
            name: r.3,
            email: r.4,
        })
        .collect())
}

/// `(response id, survey id, submitted at)` of a person's responses, newest first.
pub async fn responses_of_subject(
    db: &Db,
    subject_id: i64,
) -> Result<Vec<(i64, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, survey_id, submitted_at FROM survey_responses WHERE subject_id = $1 \
         ORDER BY submitted_at DESC, id DESC",
    )
    .bind(subject_id)
    .fetch_all(&db.pool)
    .await
}

/// `(question, choice, sealed text)` of one response, in order.
pub async fn answers_of_response(
    db: &Db,
    response_id: i64,
) -> Result<Vec<(i64, Option<i64>, Option<Vec<u8>>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT question_id, choice, text_value FROM survey_answers WHERE response_id = $1 ORDER BY id",
    )
    .bind(response_id)
    .fetch_all(&db.pool)
    .await
}
