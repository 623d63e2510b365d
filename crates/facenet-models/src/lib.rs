//! Fetches and converts the published models.
