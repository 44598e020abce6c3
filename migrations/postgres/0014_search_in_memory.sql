-- Search ranks and filters in memory (content::search::rank): the index
-- that covered the visibility check of each match, and the title and
-- summary indexes that ranked, are not used any more; loading the live
-- pieces reads them by status and publication time.
DROP INDEX articles_visibility;
DROP INDEX article_search_title;
DROP INDEX article_search_summary;
CREATE INDEX articles_published ON articles(status, publish_at);
