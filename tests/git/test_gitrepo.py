"""generator.gitrepo against real git, real work trees and bare remotes in tmp dirs."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from generator.gitrepo import GitError, GitRepo, PushDenied, PushRejected, parse_trailers
from tests.helpers import git, make_git_repo, refs_snapshot, tree_snapshot, write_tree

FILES = {"README.md": "tenant\n", "overlays/prod/kustomization.yaml": "resources: [../../base]\n"}


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo.open(make_git_repo(tmp_path / "work", FILES, bare_remote=tmp_path / "remote.git"))


def test_open_finds_the_top_level_from_a_subdirectory(repo: GitRepo) -> None:
    assert GitRepo.open(repo.root / "overlays" / "prod").root == repo.root


def test_open_refuses_a_plain_directory(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(GitError, match=r"plain is not inside a git repository"):
        GitRepo.open(plain)
    with pytest.raises(GitError, match=r"is not a directory"):
        GitRepo.open(tmp_path / "missing")


def test_clean_tree_passes_and_every_kind_of_local_change_is_reported(repo: GitRepo) -> None:
    assert repo.dirty_paths() == []
    repo.require_clean("promoting")
    (repo.root / "README.md").write_text("edited\n")
    write_tree(repo.root, {"notes/new file.txt": "x"})
    git(repo.root, "mv", "overlays/prod/kustomization.yaml", "overlays/prod/k.yaml")
    assert sorted(repo.dirty_paths()) == ["README.md", "notes/new file.txt", "overlays/prod/k.yaml"]
    with pytest.raises(GitError, match=r"has uncommitted changes \(.*README\.md.*\): commit or stash them before"):
        repo.require_clean("promoting")


def test_ignored_files_do_not_make_the_tree_dirty(repo: GitRepo) -> None:
    write_tree(repo.root, {".gitignore": "*.log\n"})
    git(repo.root, "add", ".gitignore")
    git(repo.root, "commit", "-qm", "ignore logs")
    write_tree(repo.root, {"build.log": "noise"})
    assert repo.dirty_paths() == []


def test_branches_refs_and_trees(repo: GitRepo) -> None:
    assert repo.current_branch() == "main"
    head = repo.rev("HEAD")
    assert head is not None and len(head) == 40
    assert repo.rev("no-such-ref") is None
    assert repo.tree("HEAD") == git(repo.root, "rev-parse", "HEAD^{tree}").strip()
    repo.create_branch("promote/prod/abc")
    assert repo.branch_exists("promote/prod/abc")
    assert repo.current_branch() == "main", "create_branch must not switch"
    with pytest.raises(GitError, match=r"branch 'promote/prod/abc' already exists"):
        repo.create_branch("promote/prod/abc")
    with pytest.raises(GitError, match=r"'bad..name' is not a valid branch name"):
        repo.create_branch("bad..name")
    git(repo.root, "checkout", "-q", "--detach")
    assert repo.current_branch() is None


def test_commit_writes_trailers_git_can_parse_back(repo: GitRepo) -> None:
    repo.create_branch("work")
    repo.switch("work")
    write_tree(repo.root, {"README.md": "changed\n"})
    sha = repo.commit(
        "promote staging -> prod\n\n# not a comment: kept verbatim",
        trailers=[("Promote-From", "staging"), ("Promote-Reason", "hot\nfix  now")],
        paths=["README.md"],
    )
    assert repo.rev("HEAD") == sha
    message = git(repo.root, "log", "-1", "--format=%B")
    assert "# not a comment: kept verbatim" in message
    assert parse_trailers(message) == [("Promote-From", "staging"), ("Promote-Reason", "hot fix now")]
    assert repo.dirty_paths() == []
    with pytest.raises(GitError, match=r"invalid trailer key"):
        repo.commit("x", trailers=[("Bad Key", "v")], allow_empty=True)


def test_worktree_leaves_the_checkout_alone_and_disappears(repo: GitRepo) -> None:
    before = tree_snapshot(repo.root)
    with repo.worktree() as wt:
        assert wt.root != repo.root
        write_tree(wt.root, {"README.md": "promoted\n"})
        sha = wt.commit("in a throw-away tree")
    assert tree_snapshot(repo.root) == before
    assert repo.current_branch() == "main"
    assert not wt.root.exists()
    assert git(repo.root, "worktree", "list", "--porcelain").count("worktree ") == 1
    repo.create_branch("kept", sha)
    assert git(repo.root, "show", "kept:README.md") == "promoted\n"


def test_push_creates_the_branch_and_is_a_noop_when_repeated(repo: GitRepo, tmp_path: Path) -> None:
    assert repo.default_branch("origin") == "main"
    assert repo.remote_branch("origin", "feature") is None
    repo.create_branch("feature")
    repo.push("origin", "feature")
    assert repo.remote_branch("origin", "feature") == repo.rev("feature")
    repo.push("origin", "feature")
    assert git(tmp_path / "remote.git", "rev-parse", "feature") == git(repo.root, "rev-parse", "feature")


def test_push_never_forces_over_a_branch_that_moved(repo: GitRepo, tmp_path: Path) -> None:
    repo.create_branch("feature")
    repo.push("origin", "feature")
    other = GitRepo.clone(str(tmp_path / "remote.git"), tmp_path / "other", branch="feature")
    write_tree(other.root, {"README.md": "someone else\n"})
    other.commit("their change")
    other.push("origin", "feature")
    remote_before = refs_snapshot(tmp_path / "remote.git")
    repo.switch("feature")
    write_tree(repo.root, {"README.md": "mine\n"})
    repo.commit("my change")
    with pytest.raises(PushRejected, match=r"push of 'feature' to 'origin' rejected: .*non-fast-forward.*never"):
        repo.push("origin", "feature")
    assert refs_snapshot(tmp_path / "remote.git") == remote_before
    repo.fetch("origin")
    assert repo.rev("origin/feature") == other.rev("HEAD")


def test_push_refused_by_the_server_is_a_one_line_denial(repo: GitRepo, tmp_path: Path) -> None:
    hook = tmp_path / "remote.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'GL-HOOK-ERR: You are not allowed to push code to this project.' >&2\nexit 1\n")
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    repo.create_branch("feature")
    with pytest.raises(PushDenied) as info:
        repo.push("origin", "feature")
    assert "\n" not in str(info.value)
    assert "refused by the remote: GL-HOOK-ERR: You are not allowed to push code" in str(info.value)
    assert repo.remote_branch("origin", "feature") is None


def test_unknown_or_unreachable_remote(repo: GitRepo, tmp_path: Path) -> None:
    repo.create_branch("feature")
    with pytest.raises(GitError, match=r"no git remote named 'upstream' .*\(remotes: origin\)"):
        repo.push("upstream", "feature")
    git(repo.root, "remote", "add", "gone", str(tmp_path / "gone.git"))
    with pytest.raises(GitError, match=r"cannot fetch from 'gone'"):
        repo.fetch("gone")
    with pytest.raises(GitError, match=r"cannot read branches of remote 'gone'"):
        repo.remote_branch("gone", "main")
    with pytest.raises(GitError, match=r"cannot clone"):
        GitRepo.clone(str(tmp_path / "gone.git"), tmp_path / "clone")
