"""The data plane's node id in <prefix>/node.id."""

import uuid

from dataplane.cluster.node_id import load_or_create


def test_created_once_then_kept(tmp_path):
    first = load_or_create(str(tmp_path))
    assert uuid.UUID(first).version == 4
    assert (tmp_path / "node.id").read_text().strip() == first
    assert load_or_create(str(tmp_path)) == first


def test_prefix_created_when_missing(tmp_path):
    prefix = tmp_path / "new" / "prefix"
    node_id = load_or_create(str(prefix))
    assert (prefix / "node.id").read_text().strip() == node_id


def test_existing_id_is_read_as_written(tmp_path):
    (tmp_path / "node.id").write_text("6F9619FF-8B86-4D01-B42D-00CF4FC964FF\n")
    assert load_or_create(str(tmp_path)) == "6f9619ff-8b86-4d01-b42d-00cf4fc964ff"


def test_damaged_file_is_replaced(tmp_path):
    (tmp_path / "node.id").write_text("not-a-uuid")
    node_id = load_or_create(str(tmp_path))
    uuid.UUID(node_id)
    assert load_or_create(str(tmp_path)) == node_id
    assert not list(tmp_path.glob("*.tmp"))
