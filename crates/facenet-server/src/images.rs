//! Image uploads: multipart fields or base64 in JSON, never a server path or a URL.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use crate::error::ApiError;
use crate::AppState;

/// Base64 with or without padding; clients differ and the padding carries no information.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One image: multipart field `file` or JSON field `image`.
pub struct OneImage(pub Bytes);

/// Two images: multipart `file1`/`file2` or JSON `image1`/`image2`.
pub struct TwoImages(pub Bytes, pub Bytes);

impl FromRequest<AppState> for OneImage {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let [a] = read(req, state, [("file", "image")]).await?;
        Ok(OneImage(a))
    }
}

impl FromRequest<AppState> for TwoImages {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let [a, b] = read(req, state, [("file1", "image1"), ("file2", "image2")]).await?;
        Ok(TwoImages(a, b))
    }
}

enum Kind {
    Json,
    Multipart,
}

fn kind(req: &Request) -> Result<Kind, ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")) {
        Ok(Kind::Json)
    } else if mime == "multipart/form-data" {
        Ok(Kind::Multipart)
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the image as multipart/form-data or as base64 in application/json",
        ))
    }
}

/// Reads the named images, each as (multipart field, JSON field).
async fn read<const N: usize>(
    req: Request,
    state: &AppState,
    names: [(&'static str, &'static str); N],
) -> Result<[Bytes; N], ApiError> {
    let limit = state.limits.max_body_bytes;
    let mut found: [Option<Bytes>; N] = std::array::from_fn(|_| None);
    let kind = match kind(&req) {
        Ok(k) => k,
        Err(e) => {
            crate::drain(req, limit).await;
            return Err(e);
        }
    };
    match kind {
        Kind::Json => {
            // The other way reading can fail is a client that hung up, which sees no answer.
            let body = axum::body::to_bytes(req.into_body(), limit)
                .await
                .map_err(|_| ApiError::payload_too_large(limit))?;
            let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
                ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
            })?;
            let obj = value.as_object().ok_or_else(|| {
                ApiError::bad_request("invalid_json", "the body must be a JSON object")
            })?;
            for (slot, (_, field)) in found.iter_mut().zip(names) {
                let Some(v) = obj.get(field) else { continue };
                let s = v.as_str().ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_json",
                        format!("`{field}` must be a base64 string"),
                    )
                })?;
                *slot = Some(decode_base64(s, field)?.into());
            }
        }
        Kind::Multipart => {
            let mut form = Multipart::from_request(req, state).await.map_err(|e| {
                ApiError::bad_request("invalid_multipart", format!("bad multipart body: {e}"))
            })?;
            while let Some(field) = form.next_field().await.map_err(multipart_err(limit))? {
                let name = field.name().unwrap_or("").to_owned();
                if let Some(i) = names.iter().position(|(f, _)| *f == name) {
                    found[i] = Some(field.bytes().await.map_err(multipart_err(limit))?);
                }
            }
        }
    }
    let mut out: [Bytes; N] = std::array::from_fn(|_| Bytes::new());
    for (i, slot) in found.into_iter().enumerate() {
        let (file, image) = names[i];
        out[i] = slot.ok_or_else(|| {
            ApiError::bad_request(
                "missing_image",
                format!("no image: send multipart field `{file}` or JSON field `{image}`"),
            )
        })?;
    }
    Ok(out)
}

fn multipart_err(limit: usize) -> impl Fn(axum::extract::multipart::MultipartError) -> ApiError {
    move |e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(limit)
        } else {
            ApiError::bad_request("invalid_multipart", format!("bad multipart body: {e}"))
        }
    }
}

/// Accepts a bare base64 string or a `data:` URL.
fn decode_base64(s: &str, field: &str) -> Result<Vec<u8>, ApiError> {
    let s = s.trim();
    let s = match s.strip_prefix("data:") {
        Some(rest) => rest.split_once(";base64,").map_or(s, |(_, b)| b),
        None => s,
    };
    BASE64.decode(s).map_err(|e| {
        ApiError::bad_request("bad_base64", format!("`{field}` is not valid base64: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_forms() {
        assert_eq!(decode_base64("aGk=", "image").unwrap(), b"hi");
        assert_eq!(decode_base64("aGk", "image").unwrap(), b"hi");
        assert_eq!(
            decode_base64("data:image/png;base64,aGk=", "image").unwrap(),
            b"hi"
        );
        assert_eq!(decode_base64("!!", "image").unwrap_err().code, "bad_base64");
    }
}
