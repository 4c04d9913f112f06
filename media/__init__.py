"""The media library: a tenant's images (and PDFs) for MMS, checked by content and served to Twilio."""
