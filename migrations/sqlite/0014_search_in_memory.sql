-- Search ranks and filters in memory (content::search::rank): the index
-- that covered the visibility check of each match is not used any more;
-- loading the live pieces reads them by status and publication time.
DROP INDEX articles_visibility;
CREATE INDEX articles_published ON articles(status, publish_at);
