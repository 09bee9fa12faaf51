"""The downloader against a real HTTP server on 127.0.0.1 (tests/http_fixture.py)."""

import hashlib
import io
import logging
import time
import urllib.parse
import zipfile

import numpy as np
import pytest
from http_fixture import LocalServer, Route

from sketchback.data.fetch import (ChecksumMismatch, DownloadError, Limits, drive_resource_key, fetch,
                              resource_key_header, with_resource_key)

DATA = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
MD5 = hashlib.md5(DATA).hexdigest()
FAST = dict(backoff=0.01, timeout=5, chunk_size=32_768)

DRIVE_QUOTA_PAGE = b"""<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head>
<body><p>Sorry, you can't view or download this file at this time.</p><p>Too many users have viewed or
downloaded this file recently. Please try accessing the file again later.</p></body></html>"""
DRIVE_SCAN_PAGE = b"""<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head>
<body>Google Drive can't scan this file for viruses. img_align_celeba.zip (1.3G) is too large for Google
to scan for viruses. Would you still like to download this file?<form id="download-form"></form></body></html>"""


@pytest.fixture
def server():
    with LocalServer() as running:
        yield running


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_good_download_streams_verifies_and_logs_progress(server, tmp_path, caplog):
    server.routes["/img_align_celeba.zip"] = Route(DATA)
    dest = tmp_path / "img_align_celeba.zip"
    with caplog.at_level(logging.INFO, logger="sketchback"):
        assert fetch([server.url("/img_align_celeba.zip")], dest, {"md5": MD5}, progress_every=0, **FAST) == dest
    assert dest.read_bytes() == DATA
    assert leftovers(tmp_path) == ["img_align_celeba.zip"]
    assert "0.3 MB (100%)" in caplog.text and "md5 verified" in caplog.text
    assert server.requests[0].headers["User-Agent"].startswith("sketchback")


def test_dropped_connection_is_resumed_with_a_range_request(server, tmp_path):
    server.routes["/ZuBuD.tar.gz"] = Route(DATA, drop_after=100_000, drops=1)
    dest = tmp_path / "ZuBuD.tar.gz"
    fetch([server.url("/ZuBuD.tar.gz")], dest, {"md5": MD5}, **FAST)
    assert dest.read_bytes() == DATA
    first, second = server.requests
    assert "Range" not in first.headers and first.sent == 100_000
    assert second.headers["Range"] == "bytes=100000-" and second.status == 206
    assert first.sent + second.sent == len(DATA)  # nothing was downloaded twice
    assert leftovers(tmp_path) == ["ZuBuD.tar.gz"]


def test_a_server_ignoring_range_restarts_from_the_beginning(server, tmp_path):
    server.routes["/lfw.tgz"] = Route(DATA, drop_after=50_000, drops=1, ignore_range=True)
    dest = tmp_path / "lfw.tgz"
    fetch([server.url("/lfw.tgz")], dest, {"sha256": hashlib.sha256(DATA).hexdigest()}, **FAST)
    assert dest.read_bytes() == DATA
    assert [r.status for r in server.requests] == [200, 200]


def test_a_stale_partial_file_is_discarded_when_the_result_does_not_match(server, tmp_path):
    server.routes["/a.zip"] = Route(DATA)
    (tmp_path / ".a.zip.part").write_bytes(b"x" * 40_000)  # left by an interrupted run of another file
    fetch([server.url("/a.zip")], tmp_path / "a.zip", {"md5": MD5}, **FAST)
    assert (tmp_path / "a.zip").read_bytes() == DATA
    assert server.requests[0].headers["Range"] == "bytes=40000-"
    assert "Range" not in server.requests[1].headers
    assert leftovers(tmp_path) == ["a.zip"]


def test_wrong_checksum_is_a_clear_error_and_leaves_nothing(server, tmp_path):
    server.routes["/img_align_celeba.zip"] = Route(DATA)
    dest = tmp_path / "img_align_celeba.zip"
    wrong = "0" * 32
    with pytest.raises(DownloadError, match=f"its md5 is {MD5}, expected {wrong}") as error:
        fetch([server.url("/img_align_celeba.zip")], dest, {"md5": wrong}, **FAST)
    assert str(dest) in str(error.value)  # says where to place the file by hand
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("page, says", [(DRIVE_QUOTA_PAGE, "quota exceeded"), (DRIVE_SCAN_PAGE, "virus-scan")])
def test_html_page_instead_of_the_archive_is_recognised(server, tmp_path, page, says):
    server.routes["/uc"] = Route(page, content_type="text/html; charset=utf-8")
    dest = tmp_path / "img_align_celeba.zip"
    with pytest.raises(DownloadError, match=says) as error:
        fetch([server.url("/uc?export=download&id=0B7EVK8r0v71pZjFTYXZWM3FlRnM")], dest, {"md5": MD5}, **FAST)
    message = str(error.value)
    assert "Google Drive" in message and "instead of the file" in message and f"place it at {dest}" in message
    assert len(server.requests) == 1  # an HTML page is not retried
    assert leftovers(tmp_path) == []


def test_mirrors_are_tried_in_order_and_busy_servers_retried(server, tmp_path, caplog):
    server.routes["/drive"] = Route(DRIVE_QUOTA_PAGE, content_type="text/html")
    server.routes["/mirror/list_eval_partition.txt"] = Route(DATA, errors=[503, 503])
    urls = [server.url("/gone.zip"), server.url("/drive"), server.url("/mirror/list_eval_partition.txt")]
    with caplog.at_level(logging.INFO, logger="sketchback"):
        fetch(urls, tmp_path / "list_eval_partition.txt", {"md5": MD5}, **FAST)
    assert [(r.path, r.status) for r in server.requests] == [
        ("/gone.zip", 404), ("/drive", 200), ("/mirror/list_eval_partition.txt", 503),
        ("/mirror/list_eval_partition.txt", 503), ("/mirror/list_eval_partition.txt", 200)]
    assert "HTTP 503" in caplog.text and "attempt 3 of 5" in caplog.text


def test_giving_up_lists_every_url_and_keeps_the_partial_file_for_later(server, tmp_path):
    server.routes["/big.zip"] = Route(DATA, drop_after=1000, drops=100)
    with pytest.raises(DownloadError) as error:
        fetch([server.url("/gone.zip"), server.url("/big.zip")], tmp_path / "big.zip", {"md5": MD5}, retries=2, **FAST)
    message = str(error.value)
    assert "/gone.zip: HTTP 404" in message and "/big.zip: connection closed" in message
    assert "gave up after 3 attempts" in message and "will be resumed" in message
    assert (tmp_path / ".big.zip.part").stat().st_size == 3000  # three attempts, each resumed
    assert not (tmp_path / "big.zip").exists()


def test_a_file_placed_by_hand_is_verified_and_used_offline(tmp_path):
    dest = tmp_path / "img_align_celeba.zip"
    dest.write_bytes(DATA)
    assert fetch(["http://127.0.0.1:9/never-contacted"], dest, {"md5": MD5}, **FAST) == dest
    dest.write_bytes(DATA[:-1])
    with pytest.raises(ChecksumMismatch, match="placed by hand or is damaged"):
        fetch(["http://127.0.0.1:9/never-contacted"], dest, {"md5": MD5}, **FAST)
    assert dest.read_bytes() == DATA[:-1]  # never deletes the user's file


def test_without_a_pinned_checksum_the_sha256_to_pin_is_logged(server, tmp_path, caplog):
    server.routes["/ZuBuD.tar.gz"] = Route(DATA)
    with caplog.at_level(logging.INFO, logger="sketchback"):
        fetch([server.url("/ZuBuD.tar.gz")], tmp_path / "ZuBuD.tar.gz", None, **FAST)
    assert hashlib.sha256(DATA).hexdigest() in caplog.text and "WITHOUT a pinned checksum" in caplog.text
    with pytest.raises(DownloadError, match="no URL is configured"):
        fetch([], tmp_path / "other.zip", None)


# --- Google Drive, as it behaves today (tests/http_fixture.py imitates it) ----------------------------
CELEBA_ID = "0B7EVK8r0v71pZjFTYXZWM3FlRnM"


def query(request):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.path).query))


def test_drive_virus_scan_form_is_followed_with_all_its_hidden_inputs(server, tmp_path, caplog):
    url = server.drive(CELEBA_ID, Route(DATA, filename="img_align_celeba.zip"), flow="form")
    dest = tmp_path / "img_align_celeba.zip"
    with caplog.at_level(logging.INFO, logger="sketchback"):
        fetch([url], dest, {"md5": MD5}, **FAST)
    assert dest.read_bytes() == DATA and leftovers(tmp_path) == ["img_align_celeba.zip"]
    page, download = server.requests
    assert page.path.startswith("/uc?") and download.path.startswith("/download?")
    asked = query(download)
    assert asked["id"] == CELEBA_ID and asked["export"] == "download" and asked["confirm"] == "t" and asked["uuid"]
    assert "virus-scan warning page" in caplog.text and "following its download link" in caplog.text


def test_drive_legacy_confirm_link_and_cookie_are_followed(server, tmp_path):
    url = server.drive(CELEBA_ID, Route(DATA, filename="img_align_celeba.zip"), flow="legacy")
    fetch([url], tmp_path / "img_align_celeba.zip", {"md5": MD5}, **FAST)
    assert (tmp_path / "img_align_celeba.zip").read_bytes() == DATA
    page, download = server.requests
    assert "download_warning" in download.headers.get("Cookie", "") and query(download)["confirm"]


def test_a_drive_download_cut_mid_file_resumes_through_the_warning_page(server, tmp_path):
    url = server.drive(CELEBA_ID, Route(DATA, drop_after=120_000, drops=1), flow="form")
    fetch([url], tmp_path / "img_align_celeba.zip", {"md5": MD5}, **FAST)
    assert (tmp_path / "img_align_celeba.zip").read_bytes() == DATA
    statuses = [(r.path.split("?")[0], r.status, r.headers.get("Range")) for r in server.requests]
    assert statuses == [("/uc", 200, None), ("/download", 200, None),
                        ("/uc", 200, "bytes=120000-"), ("/download", 206, "bytes=120000-")]
    assert sum(r.sent for r in server.requests if r.path.startswith("/download")) == len(DATA)


def test_drive_quota_page_stops_with_the_file_the_place_and_a_command(server, tmp_path):
    url = server.drive(CELEBA_ID, Route(DATA), flow="quota")
    dest = tmp_path / "img_align_celeba.zip"
    with pytest.raises(DownloadError) as error:
        fetch([url], dest, {"md5": MD5}, **FAST)
    message = str(error.value)
    assert "quota exceeded" in message and f"place it at {dest}" in message
    assert f"gdown --continue {CELEBA_ID} -O {dest}" in message
    assert len(server.requests) == 1 and leftovers(tmp_path) == []  # not retried, nothing that looks complete


# --- Google Drive resource keys (files link-shared before 2021) -------------------------------------
FACES_ID, FACES_KEY = "0B-HY3igdAAMNemRpZHc2SkVIV2s", "0-anL_CnHx-DdP_3MyVrbvTw"


@pytest.mark.parametrize("flow", ["form", "legacy"])
def test_a_drive_file_with_a_resource_key_passes_the_warning_page_with_its_key(server, tmp_path, flow):
    url = server.drive(FACES_ID, Route(DATA, filename="faces.h5"), flow=flow, resource_key=FACES_KEY)
    dest = tmp_path / "faces.h5"
    fetch([url], dest, {"md5": MD5}, **FAST)
    assert dest.read_bytes() == DATA and leftovers(tmp_path) == ["faces.h5"]
    page, download = server.requests
    assert page.status == 200 and download.status == 200  # the warning page, then the file
    assert query(page)["resourcekey"] == query(download)["resourcekey"] == FACES_KEY
    assert download.headers["X-Goog-Drive-Resource-Keys"] == f"{FACES_ID}/{FACES_KEY}"


@pytest.mark.parametrize("key, says", [
    (None, "The file may need its resource key: Google Drive serves a file link-shared before 2021 only with the "
           "key from its share link (...?resourcekey=KEY). Add `&resourcekey=<key from the share link>` to this "
           "URL in the config."),
    ("0-wrongKeyWrongKeyWrongK", "Google Drive did not serve it with resourcekey=0-wrongKeyWrongKeyWrongK: check "
                                 "that this key is the one in the file's share link.")])
def test_a_drive_file_refused_without_its_resource_key_names_the_fix(server, tmp_path, key, says):
    server.drive(FACES_ID, Route(DATA, filename="faces.h5"), resource_key=FACES_KEY)
    url = server.url(f"/uc?export=download&id={FACES_ID}" + (f"&resourcekey={key}" if key else ""))
    dest = tmp_path / "faces.h5"
    with pytest.raises(DownloadError) as error:
        fetch([url], dest, {"md5": MD5}, **FAST)
    message = str(error.value)
    assert f"{url}: served Google Drive's 'file does not exist' page titled 'Google Drive - Page Not Found' " \
           f"(HTTP 404) instead of the file. {says}" in message
    assert f"place it at {dest}" in message and "gdown" not in message  # not a quota problem
    assert [r.status for r in server.requests] == [404]  # a refusal is not retried
    assert leftovers(tmp_path) == []  # nothing half-written at the destination or beside it


def test_a_drive_sign_in_page_for_a_url_without_a_key_suggests_the_key(server, tmp_path):
    server.routes["/uc"] = Route(b"<!DOCTYPE html><html><head><title>Sign in - Google Accounts</title></head>"
                                 b"<body>Sign in to continue to Google Drive</body></html>", content_type="text/html")
    with pytest.raises(DownloadError, match=r"a sign-in page titled .* instead of the file\. The file may need its "
                                            r"resource key") as error:
        fetch([server.url(f"/uc?export=download&id={FACES_ID}")], tmp_path / "faces.h5", None, **FAST)
    assert "&resourcekey=<key from the share link>" in str(error.value)
    assert leftovers(tmp_path) == []


def test_the_quota_page_of_a_keyed_file_suggests_a_gdown_command_that_keeps_the_key(server, tmp_path):
    url = server.drive(FACES_ID, Route(DATA), flow="quota", resource_key=FACES_KEY)
    dest = tmp_path / "faces.h5"
    with pytest.raises(DownloadError, match="quota exceeded") as error:
        fetch([url], dest, {"md5": MD5}, **FAST)
    assert f'gdown --continue "{url}" -O {dest}' in str(error.value)
    assert "may need its resource key" not in str(error.value)


def test_the_resource_key_is_added_to_the_next_url_of_the_same_file_only():
    original = f"https://drive.google.com/uc?export=download&id={FACES_ID}&resourcekey={FACES_KEY}"
    assert drive_resource_key(original) == FACES_KEY and drive_resource_key(original.split("&resource")[0]) is None
    form = f"https://drive.usercontent.google.com/download?id={FACES_ID}&export=download&confirm=t&uuid=u"
    assert query_of(with_resource_key(form, original)) == {"id": FACES_ID, "export": "download", "confirm": "t",
                                                          "uuid": "u", "resourcekey": FACES_KEY}
    other = "https://drive.usercontent.google.com/download?id=0B-HY3igdAAMNajljMGVObDJwOTA&confirm=t"
    assert with_resource_key(other, original) == other  # another file's URL never gets this key
    assert with_resource_key(form, original.split("&resource")[0]) == form
    assert resource_key_header(original) == {"X-Goog-Drive-Resource-Keys": f"{FACES_ID}/{FACES_KEY}"}
    assert resource_key_header("https://example.org/faces.h5") == {}


def query_of(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


# --- hostile servers ---------------------------------------------------------------------------------
def test_a_trickling_server_is_dropped_below_the_minimum_speed(server, tmp_path):
    server.routes["/slow.zip"] = Route(DATA, trickle=0.05)
    started = time.monotonic()
    with pytest.raises(DownloadError, match="below download.min_speed") as error:
        fetch([server.url("/slow.zip")], tmp_path / "slow.zip", {"md5": MD5}, retries=1, min_speed=1000,
              speed_window=0.5, **FAST)
    assert time.monotonic() - started < 5
    assert "gave up after 2 attempts" in str(error.value) and not (tmp_path / "slow.zip").exists()


def test_the_deadline_ends_a_download_that_keeps_going(server, tmp_path):
    server.routes["/slow.zip"] = Route(DATA, trickle=0.01)
    started = time.monotonic()
    with pytest.raises(DownloadError, match="longer than download.deadline"):
        fetch([server.url("/slow.zip")], tmp_path / "slow.zip", {"md5": MD5}, deadline=1.0, min_speed=1, **FAST)
    assert time.monotonic() - started < 4
    assert not (tmp_path / "slow.zip").exists()


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(server, tmp_path, caplog, status):
    server.routes["/busy.zip"] = Route(DATA, errors=[status], retry_after="1")
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="sketchback"):
        fetch([server.url("/busy.zip")], tmp_path / "busy.zip", {"md5": MD5}, **FAST)
    assert time.monotonic() - started >= 1.0
    assert f"HTTP {status}" in caplog.text and "in 1.0 s" in caplog.text


def test_a_retry_after_beyond_the_deadline_gives_up_at_once(server, tmp_path):
    server.routes["/busy.zip"] = Route(DATA, errors=[503], retry_after="3600")
    started = time.monotonic()
    with pytest.raises(DownloadError, match="would pass download.deadline"):
        fetch([server.url("/busy.zip")], tmp_path / "busy.zip", {"md5": MD5}, deadline=60, **FAST)
    assert time.monotonic() - started < 2


def zip_bytes():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(20):
            archive.writestr(f"png-ZuBuD/object{i:04d}.view01.png", DATA[i * 9000:(i + 1) * 9000])
    return buffer.getvalue()


def zip_test(path):
    with zipfile.ZipFile(path) as archive:
        if bad := archive.testzip():
            raise ValueError(f"member {bad} is damaged")


def test_an_unpinned_file_cut_short_without_a_length_is_not_kept_or_recommended(server, tmp_path, caplog):
    archive = zip_bytes()
    server.routes["/ZuBuD.zip"] = Route(archive, send_length=False, drop_after=len(archive) // 2, drops=10)
    with caplog.at_level(logging.INFO, logger="sketchback"), pytest.raises(DownloadError, match="not usable"):
        fetch([server.url("/ZuBuD.zip")], tmp_path / "ZuBuD.zip", None, verify=zip_test, **FAST)
    assert leftovers(tmp_path) == []  # nothing kept that could be taken for the archive
    assert "pin it" not in caplog.text and "sha256 is" not in caplog.text


def test_an_unpinned_file_that_passes_its_check_is_kept_and_its_sha256_logged(server, tmp_path, caplog):
    archive = zip_bytes()
    server.routes["/ZuBuD.zip"] = Route(archive, send_length=False)
    with caplog.at_level(logging.INFO, logger="sketchback"):
        fetch([server.url("/ZuBuD.zip")], tmp_path / "ZuBuD.zip", None, verify=zip_test, **FAST)
    assert (tmp_path / "ZuBuD.zip").read_bytes() == archive
    assert hashlib.sha256(archive).hexdigest() in caplog.text


def test_an_html_page_as_a_resumed_body_is_not_appended(server, tmp_path):
    (tmp_path / ".ZuBuD.tar.gz.part").write_bytes(DATA[:100_000])
    server.routes["/bad/ZuBuD.tar.gz"] = Route(DATA, range_page=DRIVE_QUOTA_PAGE.replace(b"Quota", b"Error"))
    server.routes["/good/ZuBuD.tar.gz"] = Route(DATA)
    urls = [server.url("/bad/ZuBuD.tar.gz"), server.url("/good/ZuBuD.tar.gz")]
    fetch(urls, tmp_path / "ZuBuD.tar.gz", None, **FAST)  # no checksum: the HTML must be caught by itself
    assert (tmp_path / "ZuBuD.tar.gz").read_bytes() == DATA
    assert [(r.path, r.status) for r in server.requests] == [("/bad/ZuBuD.tar.gz", 206), ("/good/ZuBuD.tar.gz", 206)]


def test_a_hand_placed_unpinned_file_that_fails_its_check_is_named_and_kept(tmp_path):
    dest = tmp_path / "ZuBuD.zip"
    dest.write_bytes(zip_bytes()[:5000])
    with pytest.raises(DownloadError, match="is there but cannot be used"):
        fetch(["http://127.0.0.1:9/never-contacted"], dest, None, verify=zip_test, **FAST)
    assert dest.exists()


def test_config_defaults_match_the_library_defaults():
    import yaml
    from pathlib import Path
    schema = yaml.safe_load((Path(__file__).parents[1] / "workflow/schemas/config.schema.yaml").read_text())
    block = schema["properties"]["download"]["properties"]
    assert {key: block[key]["default"] for key in block} == Limits().__dict__
