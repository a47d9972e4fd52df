-- The photos a job could not show as submitted (JSON array of
-- {index, url, shown_as, reason}); NULL reads as none.
ALTER TABLE jobs ADD COLUMN degraded_photos TEXT;
