-- Services catalog: support plans and one-off services. Prices in cents.
CREATE TABLE services (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    billing TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    position INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Order requests: the company invoices later; no card or bank data, ever.
CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reference TEXT NOT NULL UNIQUE,
    idempotency_key TEXT NOT NULL UNIQUE,
    subject_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    name BLOB NOT NULL,
    email BLOB NOT NULL,
    phone BLOB,
    company BLOB,
    notes BLOB,
    total_cents INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX orders_subject ON orders(subject_id);

CREATE TABLE order_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    subject_id INTEGER NOT NULL,
    service_id INTEGER,
    name TEXT NOT NULL,
    billing TEXT NOT NULL,
    unit_price_cents INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX order_lines_order ON order_lines(order_id);
CREATE INDEX order_lines_subject ON order_lines(subject_id);

-- Surveys, their questions, and the responses.
CREATE TABLE surveys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    intro TEXT NOT NULL,
    opens_at INTEGER,
    closes_at INTEGER,
    collect_contact INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE survey_questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    survey_id INTEGER NOT NULL REFERENCES surveys(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL,
    prompt TEXT NOT NULL,
    options TEXT NOT NULL,
    required INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX survey_questions_survey ON survey_questions(survey_id, position);

CREATE TABLE survey_responses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    survey_id INTEGER NOT NULL REFERENCES surveys(id) ON DELETE CASCADE,
    submitted_at INTEGER NOT NULL,
    marker TEXT NOT NULL,
    subject_id INTEGER,
    name BLOB,
    email BLOB,
    UNIQUE (survey_id, marker),
    UNIQUE (survey_id, subject_id)
);
CREATE INDEX survey_responses_subject ON survey_responses(subject_id);

CREATE TABLE survey_answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    response_id INTEGER NOT NULL REFERENCES survey_responses(id) ON DELETE CASCADE,
    question_id INTEGER NOT NULL REFERENCES survey_questions(id) ON DELETE CASCADE,
    subject_id INTEGER,
    choice INTEGER,
    text_value BLOB
);
CREATE INDEX survey_answers_question ON survey_answers(question_id);
CREATE INDEX survey_answers_subject ON survey_answers(subject_id);
