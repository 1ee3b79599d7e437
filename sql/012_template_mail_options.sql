-- 012: what a template says about its e-mails: attach the document as a PDF,
-- and the Reply-To (else smtp.reply_to from the config). put_template gains
-- the two parameters; the old five-parameter form is dropped, not overloaded,
-- so existing calls (positional or named) keep working unambiguously.

ALTER TABLE al.templates
  ADD COLUMN attach_pdf bool NOT NULL DEFAULT false,
  ADD COLUMN reply_to text;
COMMENT ON COLUMN al.templates.attach_pdf IS 'E-mail: attach the rendered document as a PDF (<template>.pdf)';
COMMENT ON COLUMN al.templates.reply_to IS 'E-mail: Reply-To header ("addr" or "Name <addr>"); NULL: smtp.reply_to from the config';

DROP FUNCTION al.put_template(text, text, text, text[], text);
CREATE FUNCTION al.put_template(name text, body text, subject text DEFAULT NULL,
                                required_fields text[] DEFAULT '{}', sort_field text DEFAULT NULL,
                                attach_pdf boolean DEFAULT false, reply_to text DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v int;
BEGIN
  IF name IS NULL OR btrim(name) = '' THEN
    RAISE EXCEPTION 'put_template: the template name must not be empty';
  END IF;
  IF body IS NULL OR body = '' THEN
    RAISE EXCEPTION 'put_template: template % has an empty body', name;
  END IF;
  IF reply_to ~ '[\r\n]' THEN
    RAISE EXCEPTION 'put_template: template %: reply_to must be one line (no CR/LF)', name;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('al.templates:' || name));
  SELECT coalesce(max(t.version), 0) + 1 INTO v FROM al.templates t WHERE t.name = put_template.name;
  INSERT INTO al.templates (name, version, body, subject, required_fields, sort_field, attach_pdf, reply_to)
  VALUES (put_template.name, v, put_template.body, put_template.subject,
          coalesce(put_template.required_fields, '{}'), put_template.sort_field,
          coalesce(put_template.attach_pdf, false), nullif(btrim(put_template.reply_to), ''));
  RETURN v;
END $$;
COMMENT ON FUNCTION al.put_template(text, text, text, text[], text, boolean, text) IS
  'Stores a new version of a Mustache template (subject is a Mustache template too; sort_field orders print batches; attach_pdf and reply_to shape its e-mails); returns the version. Jobs pin the newest version at submission';
REVOKE EXECUTE ON FUNCTION al.put_template(text, text, text, text[], text, boolean, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION al.put_template(text, text, text, text[], text, boolean, text) TO al_admin;
