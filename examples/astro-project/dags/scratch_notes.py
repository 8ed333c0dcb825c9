raise RuntimeError("ignored by .airflowignore, never parsed")
