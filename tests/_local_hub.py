"""A small Hugging Face Hub on 127.0.0.1, for testing real downloads without the internet.

It speaks the part of the Hub's protocol that ``huggingface_hub`` (2.x) uses to download
files, as read from its ``file_download.py`` / ``hf_api.py``:

* ``GET /api/models/{repo}/revision/{revision}``: the revision API (``model_info``): the
  commit (``sha``) and the files (``siblings``) of a branch, tag or commit; and
  ``GET /api/models/{repo}/tree/{revision}`` (``list_repo_tree``), which transformers'
  shard loading calls through ``snapshot_download``;
* ``HEAD`` / ``GET /{repo}/resolve/{revision}/{file}``: a small (git) file is answered
  directly, with ``ETag`` (its git blob hash), ``X-Repo-Commit`` and ``Content-Length``;
  a large (LFS) file (``*.safetensors``, ``*.bin``) with a ``302`` redirect to a second
  server on another port (a CDN, to which the client must not send its token), carrying
  ``X-Linked-Etag`` (its sha256), ``X-Linked-Size`` and ``X-Repo-Commit``;
* errors the way the Hub reports them: ``404`` with ``X-Error-Code`` ``RepoNotFound``,
  ``RevisionNotFound`` or ``EntryNotFound``, ``401`` with ``GatedRepo`` for a gated repo's
  files asked without the right token, ``401`` with ``RepoNotFound`` for anything of a
  private repo asked without its token (the Hub does not say that the repo exists);
* the CDN honours ``Range`` (huggingface_hub resumes a dropped download with it).

Repos are built from local folders by the tests (:meth:`LocalHub.publish`). Everything
listens on 127.0.0.1 only, on ports the system picks; the servers stop with
:meth:`LocalHub.stop` (or the ``with`` block), and by themselves after ``lifetime``
seconds at the latest, so a failing test never leaves one running.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".msgpack", ".h5")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # commit -> {path: bytes}
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> commit
    gated_token: str | None = None  # when set, files need "Authorization: Bearer <gated_token>"
    private_token: str | None = None  # when set, everything (API included) needs it; others get 401 RepoNotFound


class LocalHub:
    """Two HTTP servers in threads: the Hub (``endpoint``) and its CDN for large files."""

    def __init__(self, lifetime: float = 300.0) -> None:
        self.repos: dict[str, Repo] = {}
        self.blobs: dict[str, bytes] = {}  # sha256 -> bytes, what the CDN serves
        #: (server, method, path, headers with lower-case names) of every request, in order
        self.requests: list[tuple[str, str, str, dict[str, str]]] = []
        #: sha256 -> "drop" (send half of it, close the connection, then answer 503: the server went down)
        #: or "drop-once" (send half, close, then serve it again, honouring Range).
        self.faults: dict[str, str] = {}
        #: True: the Hub (not its CDN) answers every request with 503, as during an outage.
        self.down = False
        self._lock = threading.Lock()
        self._commit_counter = 0
        self.hub = self._server(_HubHandler)
        self.cdn = self._server(_CdnHandler)
        self._threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
                         for s in (self.hub, self.cdn)]
        for thread in self._threads:
            thread.start()
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        self.stopped = False

    def _server(self, handler: type) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.local_hub = self
        return server

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self.cdn.server_address[1]}"

    # ---- content --------------------------------------------------------------------
    def publish(self, repo_id: str, folder: Path, *, branch: str = "main", tags: tuple[str, ...] = ()) -> str:
        """Commit the files of ``folder`` (recursively) to ``repo_id`` on ``branch``; the new commit hash."""
        files = {path.relative_to(folder).as_posix(): path.read_bytes()
                 for path in sorted(folder.rglob("*")) if path.is_file()}
        with self._lock:
            self._commit_counter += 1
            commit = hashlib.sha1(f"{repo_id}:{self._commit_counter}".encode()).hexdigest()
            repo = self.repos.setdefault(repo_id, Repo())
            repo.commits[commit] = files
            repo.refs[branch] = commit
            for tag in tags:
                repo.refs[tag] = commit
            for name, data in files.items():
                if name.endswith(LFS_SUFFIXES):
                    self.blobs[hashlib.sha256(data).hexdigest()] = data
        return commit

    def requests_for(self, path_part: str, server: str | None = None) -> list[tuple[str, str, str, dict[str, str]]]:
        with self._lock:
            return [r for r in self.requests if path_part in r[2] and (server is None or r[0] == server)]

    def stop(self) -> None:
        """Stop both servers and close their sockets (idempotent)."""
        if self.stopped:
            return
        self.stopped = True
        self._timer.cancel()
        for server in (self.hub, self.cdn):
            server.shutdown()
            server.server_close()

    def __enter__(self) -> "LocalHub":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: a closed socket ends the response
    server_name = "hub"

    @property
    def hub(self) -> LocalHub:
        return self.server.local_hub

    def log_message(self, format, *args) -> None:  # keep test output clean
        pass

    def _log(self) -> None:
        with self.hub._lock:
            self.hub.requests.append((self.server_name, self.command, self.path,
                                      {k.lower(): v for k, v in self.headers.items()}))

    def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _error(self, status: int, code: str | None, message: str, extra: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": "application/json", "X-Error-Message": message, **(extra or {})}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, headers, json.dumps({"error": message}).encode())


class _HubHandler(_Handler):
    server_name = "hub"

    def do_GET(self) -> None:
        self._log()
        if self.hub.down:
            self._error(503, None, "Service Unavailable")
            return
        path = urlsplit(self.path).path
        if path.startswith("/api/models/"):
            self._api(path[len("/api/models/"):])
        else:
            self._resolve(path)

    do_HEAD = do_GET

    def _lookup(self, repo_id: str, revision: str) -> tuple[Repo | None, str | None]:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", f"Repository not found: {repo_id}")
            return None, None
        if repo.private_token and self.headers.get("Authorization") != f"Bearer {repo.private_token}":
            self._error(401, "RepoNotFound", f"Repository not found: {repo_id}. Invalid username or password.")
            return None, None
        commit = repo.refs.get(revision, revision if revision in repo.commits else None)
        if commit is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return None, None
        return repo, commit

    def _api(self, rest: str) -> None:
        """``{repo}``, ``{repo}/revision/{rev}`` or ``{repo}/tree/{rev}[/{folder}]``; rev is URL-quoted whole."""
        parts = rest.strip("/").split("/")
        at = next((i for i in (1, 2) if i < len(parts) and parts[i] in ("revision", "tree")), len(parts))
        repo_id = "/".join(parts[:at])
        kind = parts[at] if at < len(parts) else "revision"
        revision = unquote(parts[at + 1]) if at + 1 < len(parts) else "main"
        repo, commit = self._lookup(repo_id, revision)
        if repo is None:
            return
        files = repo.commits[commit]
        if kind == "revision":
            info = {"_id": hashlib.md5(repo_id.encode()).hexdigest()[:24], "id": repo_id, "modelId": repo_id,
                    "sha": commit, "private": bool(repo.private_token), "gated": "manual" if repo.gated_token else False,
                    "disabled": False, "siblings": [{"rfilename": name} for name in sorted(files)]}
            self._send(200, {"Content-Type": "application/json"}, json.dumps(info).encode())
            return
        # The tree API (list_repo_tree, which snapshot_download and transformers' shard loading call).
        folder = "/".join(unquote(p) for p in parts[at + 2:])
        prefix = f"{folder}/" if folder else ""
        recursive = "recursive=true" in urlsplit(self.path).query
        entries, folders = [], set()
        for name, data in sorted(files.items()):
            if not name.startswith(prefix):
                continue
            inner = name[len(prefix):].split("/")
            for depth in range(1, len(inner)):
                folders.add(prefix + "/".join(inner[:depth]))
            if len(inner) > 1 and not recursive:
                continue
            entry = {"type": "file", "oid": git_blob_sha1(data), "size": len(data), "path": name}
            if name.endswith(LFS_SUFFIXES):
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            entries.append(entry)
        if folder and not entries and not folders:
            self._error(404, "EntryNotFound", f"{folder} does not exist on \"{revision}\"", {"X-Repo-Commit": commit})
            return
        entries += [{"type": "directory", "oid": git_blob_sha1(name.encode()), "size": 0, "path": name}
                    for name in sorted(folders) if recursive or "/" not in name[len(prefix):]]
        self._send(200, {"Content-Type": "application/json"}, json.dumps(entries).encode())

    def _resolve(self, path: str) -> None:
        parts = path.lstrip("/").split("/")
        at = next((i for i in (1, 2) if i < len(parts) and parts[i] == "resolve"), None)
        if at is None or len(parts) < at + 3:
            self._error(404, None, f"unknown path {self.path}")
            return
        repo_id, revision, filename = "/".join(parts[:at]), unquote(parts[at + 1]), unquote("/".join(parts[at + 2:]))
        repo, commit = self._lookup(repo_id, revision)
        if repo is None:
            return
        if repo.gated_token and self.headers.get("Authorization") != f"Bearer {repo.gated_token}":
            self._error(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must have access to it "
                                          f"and be authenticated to access it. Please log in.")
            return
        data = repo.commits[commit].get(filename)
        if data is None:
            self._error(404, "EntryNotFound", f"{filename} does not exist on \"{revision}\"",
                        {"X-Repo-Commit": commit})
            return
        if filename.endswith(LFS_SUFFIXES):
            sha256 = hashlib.sha256(data).hexdigest()
            self._send(302, {"Location": f"{self.hub.cdn_url}/blobs/{sha256}?file={quote(filename)}",
                             "X-Linked-Etag": f'"{sha256}"', "X-Linked-Size": str(len(data)),
                             "X-Repo-Commit": commit, "ETag": f'"{git_blob_sha1(data)}"'})
            return
        self._send(200, {"ETag": f'"{git_blob_sha1(data)}"', "X-Repo-Commit": commit,
                         "Content-Type": "application/octet-stream", "Content-Length": str(len(data)),
                         **_disposition(filename)}, data)


def _disposition(filename: str) -> dict[str, str]:
    """The ``Content-Disposition`` the Hub and its CDN send, from which huggingface_hub names its progress bar."""
    name = filename.rsplit("/", 1)[-1]
    return {"Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}; filename=\"{name}\";"}


class _CdnHandler(_Handler):
    server_name = "cdn"

    def do_GET(self) -> None:
        self._log()
        path = urlsplit(self.path).path
        sha256 = path.rsplit("/", 1)[-1]
        data = self.hub.blobs.get(sha256)
        if not path.startswith("/blobs/") or data is None:
            self._error(404, None, "no such blob")
            return
        fault = self.hub.faults.get(sha256)
        if fault == "down":  # the server went down after dropping the first attempt
            self._error(503, None, "Service Unavailable")
            return
        start = 0
        if self.headers.get("Range", "").startswith("bytes="):
            start = int(self.headers["Range"][len("bytes="):].split("-")[0])
            headers = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
            status = 206
        else:
            headers, status = {}, 200
        body = data[start:]
        headers.update({"Content-Length": str(len(body)), "ETag": f'"{sha256}"', "Accept-Ranges": "bytes",
                        "Content-Type": "application/octet-stream",
                        **_disposition(unquote(urlsplit(self.path).query.partition("file=")[2]))})
        if self.command == "GET" and fault in ("drop", "drop-once") and start == 0:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])  # half of it, then the connection is gone
            self.wfile.flush()
            with self.hub._lock:
                if fault == "drop-once":
                    del self.hub.faults[sha256]
                else:
                    self.hub.faults[sha256] = "down"
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self._send(status, headers, body)

    do_HEAD = do_GET


def main(argv: list[str] | None = None) -> None:
    """``python tests/_local_hub.py org/name=FOLDER ...``: serve folders until Ctrl-C (for a demonstration).

    Prints the ``HF_ENDPOINT`` to export; then ``polyformer download org/name`` or any
    ``from_pretrained("org/name")`` downloads from it.
    """
    import argparse
    import time

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("repos", nargs="+", metavar="ORG/NAME=FOLDER")
    parser.add_argument("--lifetime", type=float, default=3600.0, help="stop after this many seconds")
    args = parser.parse_args(argv)
    with LocalHub(lifetime=args.lifetime) as hub:
        for spec in args.repos:
            repo_id, sep, folder = spec.partition("=")
            if not sep or not Path(folder).is_dir():
                parser.error(f"expected ORG/NAME=FOLDER with an existing folder, got {spec!r}")
            print(f"{repo_id}: commit {hub.publish(repo_id, Path(folder))}", flush=True)
        print(f"export HF_ENDPOINT={hub.endpoint}", flush=True)
        try:
            while not hub.stopped:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
