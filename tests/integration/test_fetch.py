"""The download stage against a loopback server that misbehaves on purpose (tests/fetch_driver)."""
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import unittest

from server import FaultServer
from support import PYBUNDLE, file_sha256

DRIVER = os.environ.get("PYBUNDLE_FETCH_DRIVER") or os.path.join(os.path.dirname(PYBUNDLE), "tests", "fetch_driver")


class FetchCase(unittest.TestCase):
    """A served directory of random files, an empty cache, and a driver for fetch_all."""

    sizes = [200_000, 150_000, 90_000, 310_000]

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pb-fetch-")
        self.www = os.path.join(self.tmp, "www")
        self.cache = os.path.join(self.tmp, "cache")
        os.makedirs(self.www)
        rng = random.Random(1234)
        self.files = []
        for i, size in enumerate(self.sizes):
            name = f"pkg{i}-1.0-py3-none-any.whl"
            path = os.path.join(self.www, name)
            with open(path, "wb") as f:
                f.write(b"PK\x03\x04" + rng.randbytes(size - 4))  # local wheels must look like zips
            self.files.append({"name": name, "path": path, "sha256": file_sha256(path), "size": size, "label": f"pkg{i}"})
        self.server = FaultServer(self.www).start()

    def tearDown(self):
        self.server.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def request(self, i, url=None, size=True):
        f = self.files[i]
        return {"url": url or self.server.url(f["name"]), "sha256": f["sha256"],
                "size": f["size"] if size else None, "label": f["label"]}

    def driver_input(self, requests, **options):
        opts = {"cache_dir": self.cache, "retry_base_delay": 0.01, "stall_timeout": 1, "retries": 5}
        opts.update(options)
        return json.dumps({"requests": requests, "options": opts})

    def fetch(self, requests, **options):
        p = subprocess.run([DRIVER], input=self.driver_input(requests, **options), text=True, capture_output=True)
        result = json.loads(p.stdout)
        self.assertEqual(p.returncode, 0 if result["ok"] else result["exit"], p.stderr)
        return p.returncode, result, p.stderr

    def fetch_ok(self, requests, **options):
        rc, result, err = self.fetch(requests, **options)
        self.assertEqual(rc, 0, (result, err))
        return result["files"]

    def path(self, i):
        return "/" + self.files[i]["name"]

    def cache_files(self):
        out = []
        for dirpath, _, names in os.walk(os.path.join(self.cache, "wheels")):
            out += [os.path.join(dirpath, n) for n in names]
        return out

    def assert_cached(self, files, indices):
        self.assertEqual(len(files), len(indices))
        for path, i in zip(files, indices):
            self.assertEqual(os.path.basename(path), self.files[i]["sha256"])
            self.assertEqual(file_sha256(path), self.files[i]["sha256"])
        leftovers = [p for p in self.cache_files() if p.endswith(".part")]
        self.assertEqual(leftovers, [])


class HappyPath(FetchCase):
    def test_files_arrive_verified_in_request_order(self):
        order = [2, 0, 3, 1]
        files = self.fetch_ok([self.request(i) for i in order])
        self.assert_cached(files, order)
        for i in order:
            self.assertEqual(self.server.count(self.path(i)), 1)

    def test_connections_are_reused(self):
        files = self.fetch_ok([self.request(i) for i in range(4)], concurrency=1)
        self.assert_cached(files, range(4))
        connections = {e["conn"] for e in self.server.log}
        self.assertEqual(len(self.server.log), 4)
        self.assertEqual(len(connections), 1)

    def test_second_run_is_served_from_the_cache(self):
        self.fetch_ok([self.request(i) for i in range(4)])
        self.server.clear()
        files = self.fetch_ok([self.request(i) for i in range(4)])
        self.assert_cached(files, range(4))
        self.assertEqual(self.server.log, [])

    def test_progress_events_as_json(self):
        self.server.add_fault(self.path(1), "status", times=1, code=503)
        _, _, err = self.fetch([self.request(i) for i in range(4)], progress="json")
        events = [json.loads(line) for line in err.splitlines()]
        kinds = [e["event"] for e in events]
        self.assertEqual(kinds[0], "start")
        self.assertEqual(kinds[-1], "finish")
        self.assertEqual(kinds.count("downloaded"), 4)
        retry = [e for e in events if e["event"] == "retry"]
        self.assertEqual(len(retry), 1)
        self.assertEqual(retry[0]["package"], "pkg1")
        self.assertIn("HTTP 503", retry[0]["message"])
        self.assertEqual(events[-1]["files_done"], 4)
        self.assertEqual(events[-1]["bytes_done"], sum(self.sizes))

    def test_mirror_rewrites_the_url_prefix(self):
        # Port 1 on the loopback has no server: only the rewritten URL can work.
        dead = "http://127.0.0.1:1/packages/"
        reqs = [self.request(i, url=dead + self.files[i]["name"]) for i in range(2)]
        files = self.fetch_ok(reqs, mirrors=[dead + "=" + self.server.base_url + "/"])
        self.assert_cached(files, [0, 1])

    def test_proxy_from_the_environment(self):
        # Port 1 has no server; only a proxy can answer. The server doubles as one.
        dead = "http://127.0.0.1:1/"
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy", "all_proxy")}
        env["http_proxy"] = self.server.base_url
        p = subprocess.run([DRIVER], input=self.driver_input([self.request(0, url=dead + self.files[0]["name"])]),
                           text=True, capture_output=True, env=env)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertEqual([e["target"] for e in self.server.log], [dead + self.files[0]["name"]])
        # NO_PROXY sends it straight to the dead port.
        env["no_proxy"] = "127.0.0.1"
        p = subprocess.run([DRIVER], input=self.driver_input([self.request(1, url=dead + self.files[1]["name"])],
                                                             retries=0), text=True, capture_output=True, env=env)
        self.assertEqual(p.returncode, 3, p.stdout)
        self.assertEqual(len(self.server.log), 1)

    def test_local_paths_and_file_urls(self):
        reqs = [self.request(0, url="www/" + self.files[0]["name"]),
                self.request(1, url="file://" + self.files[1]["path"])]
        files = self.fetch_ok(reqs, base_dir=self.tmp)
        self.assert_cached(files, [0, 1])
        self.assertEqual(self.server.log, [])


class HostRamp(FetchCase):
    sizes = [40_000] * 8

    def test_connections_to_one_host_start_few_and_ramp_up(self):
        # A server with a short listen queue drops a burst of SYNs (1 s each to recover).
        self.server.add_fault("*", "delay", times=None, seconds=0.5)
        files = self.fetch_ok([self.request(i) for i in range(8)], concurrency=16)
        self.assert_cached(files, range(8))
        times = sorted(e["time"] for e in self.server.log)
        # Four requests at first; a fifth only once a transfer has finished (after its delay).
        self.assertGreaterEqual(times[4] - times[0], 0.4, times)


class HostWithoutKeepAlive(FetchCase):
    sizes = [40_000] * 12

    def test_a_server_that_closes_every_connection_gets_no_more_than_four(self):
        # Each transfer is a new SYN there: growing would overflow a short listen queue.
        self.server.add_fault("*", "delay", times=None, seconds=0.3, close=True)
        files = self.fetch_ok([self.request(i) for i in range(12)], concurrency=16)
        self.assert_cached(files, range(12))
        self.assertEqual(len({e["conn"] for e in self.server.log}), 12)
        times = sorted(e["time"] for e in self.server.log)
        # Three rounds of four: the ninth starts only once a transfer of the second round ended.
        self.assertGreaterEqual(times[8] - times[0], 0.55, times)


class TransientFaults(FetchCase):
    def test_http_500_twice_then_success(self):
        self.server.add_fault(self.path(0), "status", times=2, code=500)
        files = self.fetch_ok([self.request(i) for i in range(4)])
        self.assert_cached(files, range(4))
        self.assertEqual([e["status"] for e in self.server.requests(self.path(0))], [500, 500, 200])

    def test_reset_mid_body_resumes_with_a_range_request(self):
        self.server.add_fault(self.path(0), "reset", times=1, after=64_000)
        files = self.fetch_ok([self.request(0)])
        self.assert_cached(files, [0])
        reqs = self.server.requests(self.path(0))
        self.assertEqual(len(reqs), 2)
        self.assertIsNone(reqs[0]["range"])
        self.assertEqual(reqs[1]["range"], "bytes=64000-")
        self.assertEqual(reqs[1]["status"], 206)

    def test_reset_mid_body_without_range_support_starts_over(self):
        self.server.set_range(False)
        self.server.add_fault(self.path(0), "reset", times=1)
        files = self.fetch_ok([self.request(0)])
        self.assert_cached(files, [0])
        self.assertEqual([e["status"] for e in self.server.requests(self.path(0))], [200, 200])

    def test_stall_longer_than_the_timeout_is_aborted_and_retried(self):
        self.server.add_fault(self.path(0), "stall", times=1, after=50_000, seconds=120)
        files = self.fetch_ok([self.request(i) for i in range(2)], stall_timeout=1)
        self.assert_cached(files, [0, 1])
        reqs = self.server.requests(self.path(0))
        self.assertEqual(len(reqs), 2)
        self.assertEqual(reqs[1]["range"], "bytes=50000-")

    def test_content_length_larger_than_the_body(self):
        # Without a size in the lock, the resume asks past the end, and a clean download settles it.
        # (With one, the wrong length fails at once: BogusHeaders.)
        self.server.add_fault(self.path(1), "short", times=1)
        files = self.fetch_ok([self.request(1, size=False)])
        self.assert_cached(files, [1])
        self.assertEqual(self.server.requests(self.path(1))[-1]["status"], 200)

    def test_short_body_every_time_fails_with_the_cause(self):
        self.server.add_fault(self.path(0), "short", times=None)
        rc, result, _ = self.fetch([self.request(0, size=False)], retries=2)
        self.assertEqual(rc, 3)
        self.assertEqual(len(result["problems"]), 1)
        self.assertIn("pkg0", result["problems"][0])
        self.assertIn("gave up after 3 attempts", result["problems"][0])

    def test_slow_drip_still_completes(self):
        self.server.add_fault(self.path(0), "drip", times=1, chunk=4096, interval=0.02)
        files = self.fetch_ok([self.request(0)], stall_timeout=1)
        self.assert_cached(files, [0])
        self.assertEqual(self.server.count(self.path(0)), 1)

    def test_429_waits_for_retry_after(self):
        self.server.add_fault(self.path(0), "status", times=1, code=429, headers={"Retry-After": "1"})
        files = self.fetch_ok([self.request(0)], retry_base_delay=0.01)
        self.assert_cached(files, [0])
        reqs = self.server.requests(self.path(0))
        self.assertEqual([e["status"] for e in reqs], [429, 200])
        # The backoff alone would be ~10 ms; the server asked for a second.
        self.assertGreaterEqual(reqs[1]["time"] - reqs[0]["time"], 0.9)

    def test_retries_are_bounded(self):
        self.server.add_fault(self.path(0), "status", times=None, code=502)
        rc, result, _ = self.fetch([self.request(0), self.request(1)], retries=2)
        self.assertEqual(rc, 3)
        self.assertEqual(len(result["problems"]), 1)
        self.assertIn("HTTP 502", result["problems"][0])
        self.assertIn("gave up after 3 attempts", result["problems"][0])
        self.assertEqual(self.server.count(self.path(0)), 3)
        # The good file was still fetched and kept.
        self.assertTrue(os.path.exists(os.path.join(self.cache, "wheels", self.files[1]["sha256"][:2],
                                                    self.files[1]["sha256"])))


class BogusHeaders(FetchCase):
    """Answers that cannot be the lock's file fail at once, saying what the server sent."""

    def test_an_encoded_answer_fails_at_once_naming_the_encoding(self):
        self.server.add_fault(self.path(0), "encoding", times=None, encoding="gzip")
        url = self.server.url(self.files[0]["name"]).replace("http://", "http://alice:s3cret@")
        rc, result, _ = self.fetch([self.request(0, url=url), self.request(1)])
        self.assertEqual(rc, 1)
        self.assertEqual(len(result["problems"]), 1, result)
        problem = result["problems"][0]
        self.assertTrue(problem.startswith(f"package 'pkg0': {self.server.url(self.files[0]['name'])}: "), problem)
        self.assertIn("Content-Encoding: gzip", problem)
        self.assertNotIn("s3cret", problem)
        self.assertEqual(self.server.count(self.path(0)), 1)  # never retried
        self.assertEqual({e["accept_encoding"] for e in self.server.log}, {"identity"})
        self.assertEqual([os.path.basename(p) for p in self.cache_files()], [self.files[1]["sha256"]])

    def test_content_length_other_than_the_lock_size_fails_at_once(self):
        size = self.files[0]["size"]
        self.server.add_fault(self.path(0), "short", times=None, missing=1000)
        rc, result, _ = self.fetch([self.request(0)])
        self.assertEqual(rc, 1)
        self.assertIn(f"announced {size + 1000} bytes (Content-Length) but the lock gives the file's size as {size}",
                      result["problems"][0])
        self.assertEqual(self.server.count(self.path(0)), 1)
        self.assertEqual(self.cache_files(), [])

    def test_a_resumed_answer_of_the_wrong_length_fails_at_once(self):
        size = self.files[0]["size"]
        self.server.add_fault(self.path(0), "reset", times=1, after=64_000)
        self.server.add_fault(self.path(0), "short", times=1, missing=10)
        rc, result, _ = self.fetch([self.request(0)])
        self.assertEqual(rc, 1)
        self.assertIn(f"announced {size - 64_000 + 10} bytes from byte 64000 (Content-Length) but the lock gives the "
                      f"file's size as {size} bytes, which leaves {size - 64_000}", result["problems"][0])
        self.assertEqual([e["range"] for e in self.server.requests(self.path(0))], [None, "bytes=64000-"])

    def test_a_body_short_of_its_length_that_stalls_names_both_numbers(self):
        size = self.files[0]["size"]
        self.server.add_fault(self.path(0), "short", times=None, missing=1000, stall=60)
        rc, result, err = self.fetch([self.request(0, size=False)], stall_timeout=0.3, progress="json")
        self.assertEqual(rc, 1)
        expected = f"the server announced {size + 1000} bytes (Content-Length) and sent {size}, then nothing for 0.3 s"
        self.assertIn(expected + ", twice in a row: its Content-Length is wrong", result["problems"][0])
        retries = [json.loads(line)["message"] for line in err.splitlines() if '"retry"' in line]
        self.assertEqual(retries[0], expected)
        # Full body (stalls), resume past the end (416), full body again (stalls the same): no more.
        self.assertEqual([e["status"] for e in self.server.requests(self.path(0))], [200, 416, 200])


class InterruptedRun(FetchCase):
    """A killed run leaves <sha256>.part behind; the next run resumes it, and still verifies."""

    def leave_partial(self, i, data):
        sha = self.files[i]["sha256"]
        os.makedirs(os.path.join(self.cache, "wheels", sha[:2]), exist_ok=True)
        with open(os.path.join(self.cache, "wheels", sha[:2], sha + ".part"), "wb") as f:
            f.write(data)

    def content(self, i):
        with open(self.files[i]["path"], "rb") as f:
            return f.read()

    def test_partial_download_is_resumed(self):
        self.leave_partial(0, self.content(0)[:70_000])
        files = self.fetch_ok([self.request(0)])
        self.assert_cached(files, [0])
        self.assertEqual([e["range"] for e in self.server.log], ["bytes=70000-"])

    def test_complete_partial_needs_no_request(self):
        self.leave_partial(0, self.content(0))
        files = self.fetch_ok([self.request(0)])
        self.assert_cached(files, [0])
        self.assertEqual(self.server.log, [])

    def test_corrupt_partial_is_downloaded_again_in_full(self):
        self.leave_partial(0, b"garbage" * 1000)
        files = self.fetch_ok([self.request(0)])
        self.assert_cached(files, [0])
        self.assertEqual([e["range"] for e in self.server.log], ["bytes=7000-", None])


class PermanentFailures(FetchCase):
    def test_404_fails_at_once_and_names_the_url(self):
        self.server.add_fault(self.path(0), "status", times=None, code=404)
        rc, result, _ = self.fetch([self.request(i) for i in range(2)])
        self.assertEqual(rc, 1)
        self.assertEqual(result["problems"],
                         [f"package 'pkg0': {self.server.url(self.files[0]['name'])}: HTTP 404 Not Found"])
        self.assertEqual(self.server.count(self.path(0)), 1)

    def test_all_failures_are_reported_together(self):
        self.server.add_fault(self.path(0), "status", times=None, code=404)
        self.server.add_fault(self.path(2), "status", times=None, code=403)
        rc, result, _ = self.fetch([self.request(i) for i in range(4)])
        self.assertEqual(rc, 1)
        self.assertEqual(len(result["problems"]), 2)
        self.assertIn("pkg0", result["problems"][0])
        self.assertIn("HTTP 404", result["problems"][0])
        self.assertIn("pkg2", result["problems"][1])
        self.assertIn("HTTP 403", result["problems"][1])
        self.assertEqual(self.server.count(self.path(2)), 1)

    def test_wrong_bytes_fail_the_hash_and_nothing_is_cached(self):
        self.server.add_fault(self.path(0), "wrong", times=None)
        rc, result, _ = self.fetch([self.request(0)])
        self.assertEqual(rc, 1)
        self.assertIn("sha256 mismatch", result["problems"][0])
        self.assertIn(self.files[0]["sha256"], result["problems"][0])
        self.assertEqual(self.cache_files(), [])
        self.assertEqual(self.server.count(self.path(0)), 1)  # never retried

    def test_credentials_are_removed_from_messages(self):
        url = self.server.base_url.replace("http://", "http://alice:s3cret@") + "/missing.whl"
        rc, result, err = self.fetch([self.request(0, url=url)], progress="plain")
        self.assertEqual(rc, 1)
        self.assertIn("http://127.0.0.1:", result["problems"][0])
        self.assertNotIn("s3cret", result["problems"][0] + err)
        self.assertNotIn("alice", result["problems"][0] + err)

    def test_netrc_credentials_are_sent(self):
        self.server.add_fault(self.path(0), "auth", times=None, user="alice", password="pw")
        rc, result, _ = self.fetch([self.request(0)], netrc_file=os.path.join(self.tmp, "none"))
        self.assertEqual(rc, 1)
        self.assertIn("HTTP 401", result["problems"][0])
        netrc = os.path.join(self.tmp, "netrc")
        with open(netrc, "w") as f:
            f.write("machine 127.0.0.1 login alice password pw\n")
        files = self.fetch_ok([self.request(0)], netrc_file=netrc)
        self.assert_cached(files, [0])


class Tls(FetchCase):
    def setUp(self):
        super().setUp()
        if not shutil.which("openssl"):
            self.skipTest("openssl not installed")
        self.cert, self.key = os.path.join(self.tmp, "cert.pem"), os.path.join(self.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", self.key, "-out", self.cert], check=True, capture_output=True)
        self.https = FaultServer(self.www, tls=(self.cert, self.key)).start()

    def tearDown(self):
        self.https.stop()
        super().tearDown()

    def tls_request(self, i):
        return self.request(i, url=self.https.url(self.files[i]["name"]))

    def test_ca_file_option(self):
        files = self.fetch_ok([self.tls_request(i) for i in range(2)], ca_file=self.cert)
        self.assert_cached(files, [0, 1])

    def test_ssl_cert_file_variable(self):
        env = dict(os.environ, SSL_CERT_FILE=self.cert)
        p = subprocess.run([DRIVER], input=self.driver_input([self.tls_request(0)]), text=True,
                           capture_output=True, env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_unknown_certificate_fails_without_retrying(self):
        env = dict(os.environ, SSL_CERT_FILE=self.key)  # not a CA certificate
        p = subprocess.run([DRIVER], input=self.driver_input([self.tls_request(0)], progress="json"), text=True,
                           capture_output=True, env=env)
        result = json.loads(p.stdout)
        self.assertEqual(p.returncode, 3)
        self.assertIn("package 'pkg0': https://127.0.0.1:", result["problems"][0])
        self.assertIn("certificate", result["problems"][0].lower())
        self.assertNotIn('"retry"', p.stderr)
        self.assertEqual(self.https.log, [])


class SharedCache(FetchCase):
    sizes = [120_000 + 7_000 * i for i in range(12)]

    def test_four_runs_at_once_download_each_file_once(self):
        # Slow answers keep the runs overlapping.
        self.server.add_fault("*", "delay", times=None, seconds=0.1)
        payload = os.path.join(self.tmp, "requests.json")
        with open(payload, "w") as f:
            f.write(self.driver_input([self.request(i) for i in range(len(self.sizes))], concurrency=4))
        # Each run reads its input from the file, so all four start at once.
        procs = [subprocess.Popen([DRIVER, payload], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
        outputs = [p.communicate() for p in procs]
        for p, (out, err) in zip(procs, outputs):
            self.assertEqual(p.returncode, 0, err)
        results = [json.loads(out) for out, _ in outputs]
        for r in results[1:]:
            self.assertEqual(r, results[0])
        self.assert_cached(results[0]["files"], range(len(self.sizes)))
        for i in range(len(self.sizes)):
            self.assertEqual(self.server.count(self.path(i)), 1, self.files[i]["name"])


class Offline(FetchCase):
    def test_cold_cache_names_every_missing_file(self):
        rc, result, _ = self.fetch([self.request(i) for i in range(3)], offline=True)
        self.assertEqual(rc, 3)
        problems = result["problems"]
        self.assertEqual(len(problems), 4)
        for i in range(3):
            self.assertTrue(problems[i].startswith(f"package 'pkg{i}': {self.server.url(self.files[i]['name'])}"))
            self.assertIn("not in the cache", problems[i])
        self.assertIn("3 files are missing from the cache at " + self.cache, problems[3])
        self.assertEqual(self.server.log, [])

    def test_warm_cache_needs_no_network(self):
        self.fetch_ok([self.request(i) for i in range(3)])
        self.server.clear()
        files = self.fetch_ok([self.request(i) for i in range(3)], offline=True)
        self.assert_cached(files, range(3))
        self.assertEqual(self.server.log, [])


class CacheTrust(FetchCase):
    """The cache is re-verified when used: anyone who can write to it must not get files vendored."""

    def entry(self, i):
        sha = self.files[i]["sha256"]
        return os.path.join(self.cache, "wheels", sha[:2], sha)

    def test_a_replaced_entry_is_evicted_and_downloaded_again(self):
        self.fetch_ok([self.request(0)])
        with open(self.entry(0), "r+b") as f:
            f.write(b"evil")
        self.server.clear()
        files = self.fetch_ok([self.request(0)])
        self.assert_cached(files, [0])
        self.assertEqual(self.server.count(self.path(0)), 1)

    def test_offline_a_replaced_entry_fails_naming_the_cache_file(self):
        self.fetch_ok([self.request(0)])
        os.remove(self.entry(0))
        with open(self.files[1]["path"], "rb") as src, open(self.entry(0), "wb") as dst:
            dst.write(src.read())
        rc, result, _ = self.fetch([self.request(0)], offline=True)
        self.assertEqual(rc, 1)
        self.assertIn(f"cache entry {self.entry(0)} does not hash to its name", result["problems"][0])
        self.assertFalse(os.path.exists(self.entry(0)))

    def test_entries_and_partials_that_are_links_are_not_followed(self):
        victim = os.path.join(self.tmp, "victim")
        with open(victim, "wb") as f:
            f.write(b"precious")
        os.makedirs(os.path.dirname(self.entry(0)))
        os.symlink(self.files[0]["path"], self.entry(0))  # right content, but not ours
        os.makedirs(os.path.dirname(self.entry(1)), exist_ok=True)
        os.symlink(victim, self.entry(1) + ".part")
        files = self.fetch_ok([self.request(0), self.request(1)])
        self.assert_cached(files, [0, 1])
        self.assertFalse(os.path.islink(self.entry(0)))
        with open(victim, "rb") as f:
            self.assertEqual(f.read(), b"precious")

    def test_a_local_file_that_is_not_a_wheel_never_enters_the_cache(self):
        secret = os.path.join(self.tmp, "secret.txt")
        with open(secret, "w") as f:
            f.write("root:x:0:0\n")
        os.chmod(secret, 0o600)
        wrong = "0" * 64
        rc, result, _ = self.fetch([{"url": secret, "sha256": wrong, "label": "secret"}])
        self.assertEqual(rc, 1)
        self.assertIn("is not a wheel", result["problems"][0])
        self.assertNotIn(file_sha256(secret), json.dumps(result))
        self.assertEqual(self.cache_files(), [])

    def test_a_local_wheel_is_cached_no_more_open_than_its_source(self):
        wheel = os.path.join(self.tmp, "w-1.0-py3-none-any.whl")
        with open(wheel, "wb") as f:
            f.write(b"PK\x03\x04" + os.urandom(1000))
        os.chmod(wheel, 0o600)
        files = self.fetch_ok([{"url": wheel, "sha256": file_sha256(wheel), "label": "w"}])
        self.assertEqual(os.stat(files[0]).st_mode & 0o077, 0)
        rc, result, _ = self.fetch([{"url": wheel, "sha256": "1" * 64, "label": "w"}])
        self.assertEqual(rc, 1)
        self.assertIn("nothing was copied into the cache", result["problems"][0])

    def test_a_download_without_a_size_stops_at_the_cap(self):
        rc, result, _ = self.fetch([self.request(0, size=False)], max_download=100_000)
        self.assertEqual(rc, 1)
        self.assertIn("more than 100000 bytes", result["problems"][0])
        self.assertEqual(self.cache_files(), [])


class CacheCommand(FetchCase):
    def pybundle(self, *args):
        return subprocess.run([PYBUNDLE, "--cache-dir", self.cache, *args], text=True, capture_output=True)

    def test_dir_prints_the_location(self):
        p = self.pybundle("cache", "dir")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), self.cache)
        env = dict(os.environ, PYBUNDLE_CACHE_DIR=os.path.join(self.tmp, "other"))
        p = subprocess.run([PYBUNDLE, "cache", "dir"], text=True, capture_output=True, env=env)
        self.assertEqual(p.stdout.strip(), os.path.join(self.tmp, "other"))

    def test_a_relative_xdg_cache_home_is_ignored(self):
        env = {k: v for k, v in os.environ.items() if k != "PYBUNDLE_CACHE_DIR"}
        env.update(HOME=self.tmp, XDG_CACHE_HOME="cache-here")
        p = subprocess.run([PYBUNDLE, "cache", "dir"], text=True, capture_output=True, env=env, cwd=self.tmp)
        self.assertEqual(p.stdout.strip(), os.path.join(self.tmp, ".cache", "pybundle"))
        env["XDG_CACHE_HOME"] = os.path.join(self.tmp, "xdg")
        p = subprocess.run([PYBUNDLE, "cache", "dir"], text=True, capture_output=True, env=env, cwd=self.tmp)
        self.assertEqual(p.stdout.strip(), os.path.join(self.tmp, "xdg", "pybundle"))

    def test_a_cache_dir_that_is_a_file_is_refused(self):
        file = os.path.join(self.tmp, "not-a-dir")
        with open(file, "w") as f:
            f.write("mine")
        for args in (["cache", "dir"], ["cache", "prune"], ["cache", "clean"]):
            p = subprocess.run([PYBUNDLE, "--cache-dir", file, *args], text=True, capture_output=True)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(f"cache directory {file}: exists and is not a directory", p.stderr)
        with open(file) as f:
            self.assertEqual(f.read(), "mine")

    def test_prune_drops_old_entries_and_clean_empties(self):
        files = self.fetch_ok([self.request(i) for i in range(3)])
        old = time.time() - 40 * 86400
        os.utime(files[0], (old, old))
        p = self.pybundle("cache", "prune", "--days", "30")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("removed 1 file", p.stderr)
        self.assertFalse(os.path.exists(files[0]))
        self.assertTrue(os.path.exists(files[1]))
        p = self.pybundle("cache", "clean")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(os.listdir(self.cache), [])

    def test_prune_follows_no_symbolic_link_out_of_the_cache(self):
        self.fetch_ok([self.request(0)])
        old = time.time() - 40 * 86400
        name = "ab" * 32  # a cache entry's name: what prune deletes when it is old
        kept = []
        for link in (os.path.join(self.cache, "wheels", "ab"), os.path.join(self.tmp, "other", "wheels")):
            outside = os.path.join(self.tmp, "outside-" + os.path.basename(link))
            target = os.path.join(outside, "ab") if link.endswith("wheels") else outside
            os.makedirs(target)
            with open(os.path.join(target, name), "w") as f:
                f.write("not the cache's\n")
            os.utime(os.path.join(target, name), (old, old))
            kept.append(os.path.join(target, name))
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(outside, link)
        p = self.pybundle("cache", "prune", "--days", "30")  # a shard that is a link
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run([PYBUNDLE, "--cache-dir", os.path.join(self.tmp, "other"), "cache", "prune"],
                           text=True, capture_output=True)  # wheels/ itself a link
        self.assertEqual(p.returncode, 0, p.stderr)
        for path in kept:
            self.assertTrue(os.path.exists(path), path)

    def test_clean_refuses_a_directory_that_is_not_a_cache(self):
        with open(os.path.join(self.tmp, "keep.txt"), "w") as f:
            f.write("x")
        p = subprocess.run([PYBUNDLE, "--cache-dir", self.tmp, "cache", "clean"], text=True, capture_output=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("CACHEDIR.TAG", p.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "keep.txt")))


if __name__ == "__main__":
    unittest.main()
