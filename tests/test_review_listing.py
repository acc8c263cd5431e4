"""Review of the shortcuts taken to list and check many files: cases where a shortcut must give what
the plain call gives."""

import pyarrow.parquet as pq

from conftest import wide_table
from tf2eng.engine import source
from tf2eng.engine.options import Options


def test_scores_list_item_name_is_each_files_own(tmp_path):
    """Arrow calls list<item: double> and list<element: double> equal (the name of a list's values is
    left out), but they are not the same type: a file whose scores' values are named otherwise than the
    file before's is checked on its own, as a check of that file alone gives (Parquet written without
    Arrow's schema, e.g. by Spark, names them "element")."""
    tracks = [[0.1, 0.5, 0.2], [0.3, 0.9, 0.4, 0.2]]
    (tmp_path / "in").mkdir()
    for i in range(4):  # Parquet names the values of a list "element" (compliant) or "item" (as Arrow)
        pq.write_table(wide_table(tracks), tmp_path / "in" / f"part-{i}.parquet", use_compliant_nested_type=i % 2 == 1)
    assert str(pq.read_schema(tmp_path / "in" / "part-0.parquet").field("scores").type) == "list<item: double>"
    assert str(pq.read_schema(tmp_path / "in" / "part-1.parquet").field("scores").type) == "list<element: double>"
    src = source.Source(str(tmp_path / "in"), Options())
    for i, fragment in enumerate(src.fragments):
        partition = source.ds.get_partition_keys(fragment.partition_expression)
        alone = src._scan_schema(fragment.path, fragment.physical_schema, partition)
        assert str(src.scan_schema(i)) == str(alone)  # (== on schemas leaves the values' name out)
