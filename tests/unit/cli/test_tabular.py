"""columnize and tabwriter output as Consul prints it."""

from proconsul.cli.tabular import columnize, tabwrite


def test_columnize_pads_all_but_last_column():
    assert columnize(["Node\x1fAddress\x1fStatus", "a-long-name\x1f1.2.3.4:8301\x1f alive "]) \
        == "Node         Address       Status\na-long-name  1.2.3.4:8301  alive"


def test_tabwriter_aligns_terminated_cells_with_padding_six():
    assert tabwrite("CreateIndex\t3\nModifyIndex\t30\nKey\tfoo") == \
        "CreateIndex      3\nModifyIndex      30\nKey              foo"


def test_tabwriter_blocks_end_where_a_line_lacks_the_column():
    assert tabwrite("a\tb\nccc\td\nno-tabs-here\nee\tf") == \
        "a        b\nccc      d\nno-tabs-here\nee      f"
