"""The ``dates`` dataset: human-written dates and their ISO form."""

import datetime as dt

import numpy as np
import pytest

from playground import data
from playground.data import dates


def test_formats_read_as_documented():
    d = dt.date(1998, 3, 3)  # a Tuesday
    written = [dates.format_date(d, i) for i in range(len(dates.FORMATS))]
    for want in ("3 March 1998", "03/03/98", "March 3rd, 1998", "Tue 3 Mar 1998",
                 "3/3/1998", "03.03.1998", "Tuesday, March 3, 1998", "mar 3 1998",
                 "the 3rd of March 1998", "3 MARCH 1998", "March 3, 98"):
        assert want in written
    assert dates.format_date(dt.date(2011, 11, 11), 2) == "November 11th, 2011"
    assert dates.format_date(dt.date(2022, 1, 22), 2) == "January 22nd, 2022"
    assert dates.format_date(dt.date(2001, 6, 21), 2) == "June 21st, 2001"
    # day first: 3 April is 03/04, not 04/03
    assert dates.format_date(dt.date(1998, 4, 3), 1) == "03/04/98"


def test_every_day_in_every_format_fits_the_source():
    longest = 0
    day = dates.FIRST_DAY
    while day <= dates.LAST_DAY:
        if day.day in (1, 2, 3, 23, 28) or day.month == 9:  # the longest names and suffixes
            texts = [dates.format_date(day, i) for i in range(len(dates.FORMATS))]
            x = dates.encode_source(texts)  # raises on a character outside the vocabulary
            assert dates.decode_source(x) == texts
            longest = max(longest, max(map(len, texts)))
        day += dt.timedelta(days=1)
    assert longest <= dates.SOURCE_LENGTH
    assert longest >= dates.SOURCE_LENGTH - 4  # S is not much longer than needed


def test_load_layout_and_targets_match_sources():
    ds = data.load("dates", n_samples=300, seed=3)
    assert ds.train.input.shape == (300, dates.SOURCE_LENGTH)
    assert ds.train.target.shape == (300, dates.TARGET_LENGTH)
    assert ds.train.input.dtype == ds.train.target.dtype == np.int64
    assert ds.num_classes == 12 and ds.class_names[10] == "-" and ds.class_names[11] == "<eos>"
    assert ds.input_vocab == dates.SOURCE_VOCAB and ds.input_vocab_size == len(dates.SOURCE_VOCAB)
    assert dates.TARGET_BOS == ds.num_classes
    assert (ds.train.target[:, -1] == dates.TARGET_EOS).all()
    # padding only after the text
    x = ds.train.input
    pad = x == dates.SOURCE_PAD
    assert (np.diff(pad.astype(int), axis=1) >= 0).all()
    # each target is the ISO form of its source; re-parse the numeric and named formats
    for text, iso in zip(dates.decode_source(x), dates.decode_target(ds.train.target)):
        day = dt.date.fromisoformat(iso)
        assert text in [dates.format_date(day, i) for i in range(len(dates.FORMATS))]


def test_seeded_and_held_out_days_are_unseen():
    a = data.load("dates", n_samples=500, seed=1)
    b = data.load("dates", n_samples=500, seed=1)
    c = data.load("dates", n_samples=500, seed=2)
    assert np.array_equal(a.train.input, b.train.input)
    assert np.array_equal(a.val.target, b.val.target)
    assert not np.array_equal(a.train.input, c.train.input)
    train_days = {dt.date.fromisoformat(s) for s in dates.decode_target(a.train.target)}
    val_days = {dt.date.fromisoformat(s) for s in dates.decode_target(a.val.target)}
    assert not train_days & val_days
    assert all(d.toordinal() % dates.VAL_EVERY == 0 for d in val_days)
    # every format shows up
    fmts = {next(i for i in range(len(dates.FORMATS)) if dates.format_date(
        dt.date.fromisoformat(iso), i) == text)
        for text, iso in zip(dates.decode_source(a.train.input),
                             dates.decode_target(a.train.target))}
    assert len(fmts) == len(dates.FORMATS)


def test_bad_input_messages():
    with pytest.raises(ValueError, match="not in the source vocabulary"):
        dates.encode_source(["3 März 1998"])
    with pytest.raises(ValueError, match="at most 32"):
        dates.encode_source(["x" * 40])
    with pytest.raises(ValueError, match="n_samples"):
        data.load("dates", n_samples=2)


def test_dataset_node_metadata():
    from playground.graph.nodes.data import _dataset_infer
    from playground.graph.spec import REGISTRY
    params = REGISTRY["Dataset"].validate_params({"dataset": "dates", "n_samples": 100})
    shapes, meta = _dataset_infer(params, {})
    assert shapes == {"x": (None, 32), "target": (None, 11)}
    assert meta["x"] == {"dtype": "int64", "num_classes": len(dates.SOURCE_VOCAB)}
    assert meta["target"] == {"num_classes": 12}
