#!/usr/bin/env python3
"""Exercises a running `facenet serve` on real photos: enrolls a person, recognizes a new photo of
him and a stranger, verifies a pair, and reads the audit log. Standard library only (images go
as base64 JSON). Usage: demo_service.py BASE_URL ADMIN_KEY PHOTO_DIR"""
import base64
import json
import sys
import urllib.error
import urllib.request

base, admin, photos = sys.argv[1], sys.argv[2], sys.argv[3]


def call(method, path, key, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("x-api-key", key)
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def image(name):
    with open(f"{photos}/{name}", "rb") as f:
        return {"image": base64.b64encode(f.read()).decode()}


def ok(status, body, what):
    if status >= 300:
        sys.exit(f"{what} failed: {status} {body}")
    return body


client = ok(*call("POST", "/api/v1/keys", admin, {"role": "client"}), "creating a client key")["key"]
operator = ok(*call("POST", "/api/v1/keys", admin, {"role": "operator"}), "creating an operator key")["key"]
status, body = call("POST", "/api/v1/subjects", client, {"name": "Barack Obama"})
print(f"a client may not create subjects: {status} {body['error']['code']}")

subject = ok(*call("POST", "/api/v1/subjects", operator, {"name": "Barack Obama"}), "creating a subject")
for photo in ("obama.jpg", "obama2.jpg"):
    face = ok(*call("POST", f"/api/v1/subjects/{subject['id']}/faces", operator, image(photo)), f"enrolling {photo}")
    print(f"enrolled {photo} as face {face['id']} of {subject['name']} (box {[round(v) for v in face['box']]})")

for photo in ("obama3.jpg", "biden.jpg"):
    r = ok(*call("POST", "/api/v1/recognize", client, image(photo)), f"recognizing {photo}")
    cands = r["faces"][0]["candidates"]
    who = f"{cands[0]['name']} (distance {cands[0]['distance']:.3f})" if cands else "nobody enrolled (unknown person)"
    print(f"recognize {photo}: {who}; threshold {r['threshold']:.3f}")

for a, b in (("obama.jpg", "obama3.jpg"), ("obama.jpg", "biden.jpg")):
    body = {"image1": image(a)["image"], "image2": image(b)["image"]}
    r = ok(*call("POST", "/api/v1/verify", client, body), f"verifying {a} / {b}")
    print(f"verify {a} / {b}: verified={r['verified']} distance {r['distance']:.3f} similarity {r['similarity']:.3f}")

audit = ok(*call("GET", "/api/v1/audit/verify", admin), "checking the audit chain")
print(f"audit log: {audit['rows']} rows, chain intact: {audit['intact']}")
