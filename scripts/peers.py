#!/usr/bin/python3
"""Scores of the scikit-learn peers the triage model is compared with.

Evaluation only: nothing in the gateway or its tests runs this. It needs
Debian's python3-sklearn (apt-get install python3-sklearn) and the shared
data folder:

    /usr/bin/python3 scripts/peers.py --shared ../shared/data

It prints, for character TF-IDF (sublinear tf) with LinearSVC and with
logistic regression, each with balanced class weights where said:

  department  trained on 附件2_示例数据_495, scored on the 921 held-out rows
              (the issue's peer: char 1-3 grams, LinearSVC, 0.738), and its
              5-fold CV on the 495 beside it;
  four-way    5-fold CV over triage/labels/fourway.tsv with our examples in
              every training fold: macro-F1 over the four valid classes
              held out on the rows of 附件3, and against the second
              labeller's rows (triage/labels/second-opinion.tsv).

metrics.md and MODEL_CARD.md give the model's own figures on the same
footing. Only scikit-learn defaults and the options named here are used:
the peers are not tuned.
"""

import argparse
import csv
import json
import os
import sys

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

VALID = ["media_oversight", "petition", "gov_service", "discipline"]
HERE = os.path.dirname(os.path.abspath(__file__))
LABELS = os.path.join(HERE, "..", "triage", "labels")


def read_tipdm(path):
    """Rows of a 泰迪杯 csv: (id, text, first-level label or None)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        for r in csv.DictReader(f):
            label = r.get("一级分类") or r.get("一级标签")
            yield r["留言编号"], r["留言主题"] + "\n" + r["留言详情"].strip(), label


def read_tsv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def peers(balanced):
    cw = "balanced" if balanced else None
    return [
        ("LinearSVC char 1-2", lambda: make_pipeline(
            TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True), LinearSVC(class_weight=cw))),
        ("LinearSVC char 1-3", lambda: make_pipeline(
            TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True), LinearSVC(class_weight=cw))),
        ("LogisticRegression char 1-2", lambda: make_pipeline(
            TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True),
            LogisticRegression(class_weight=cw, max_iter=3000))),
    ]


def department(csvdir):
    train = list(read_tipdm(os.path.join(csvdir, "附件2_示例数据_495.csv")))
    test = list(read_tipdm(os.path.join(csvdir, "附件2_留出测试集_921_含一级标签与模型预测.csv")))
    xtr, ytr = [t for _, t, _ in train], [y for _, _, y in train]
    xte, yte = [t for _, t, _ in test], [y for _, _, y in test]
    print("department: trained on the 495, scored on the 921")
    for name, make in peers(balanced=False):
        cv = [None] * len(xtr)
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=1).split(xtr, ytr):
            m = make().fit([xtr[i] for i in tr], [ytr[i] for i in tr])
            for i, p in zip(te, m.predict([xtr[i] for i in te])):
                cv[i] = p
        pred = make().fit(xtr, ytr).predict(xte)
        print(f"  {name:30s} 921 macro-F1 {f1_score(yte, pred, average='macro'):.3f} "
              f"accuracy {accuracy_score(yte, pred):.3f}   CV on the 495 {f1_score(ytr, cv, average='macro'):.3f}")


def fourway(csvdir):
    texts = {}
    for name in ("附件3_全部_4326.csv", "附件2_示例数据_495.csv"):
        for i, t, _ in read_tipdm(os.path.join(csvdir, name)):
            texts[(name, i)] = t
    rows = [r for r in read_tsv(os.path.join(LABELS, "fourway.tsv")) if (r["file"], r["id"]) in texts]
    x = [texts[(r["file"], r["id"])] for r in rows]
    y = [r["class"] for r in rows]
    ex_x, ex_y = [], []
    with open(os.path.join(LABELS, "examples.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                e = json.loads(line)
                ex_x.append(e["title"] + "\n" + e["body"])
                ex_y.append(e["class"])
    second = {(r["file"], r["id"]): r["class"] for r in read_tsv(os.path.join(LABELS, "second-opinion.tsv"))}
    print(f"four-way: 5-fold CV over {len(rows)} labelled rows (+{len(ex_x)} examples in every training fold)")
    for name, make in peers(balanced=True):
        pred = [None] * len(x)
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=1).split(x, y):
            m = make().fit([x[i] for i in tr] + ex_x, [y[i] for i in tr] + ex_y)
            for i, p in zip(te, m.predict([x[i] for i in te])):
                pred[i] = p
        a3 = [i for i, r in enumerate(rows) if r["file"] == "附件3_全部_4326.csv"]
        sec = [i for i, r in enumerate(rows) if (r["file"], r["id"]) in second]
        own = f1_score([y[i] for i in a3], [pred[i] for i in a3], labels=VALID, average="macro")
        two = f1_score([second[(rows[i]["file"], rows[i]["id"])] for i in sec], [pred[i] for i in sec],
                       labels=VALID, average="macro")
        print(f"  {name:30s} 附件3 held out {own:.3f}   against the second labeller ({len(sec)} rows) {two:.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default="../shared/data", help="the shared data folder")
    ap.add_argument("--task", choices=["department", "fourway", "all"], default="all")
    a = ap.parse_args()
    csvdir = os.path.join(a.shared, "tipdm2020c", "csv")
    if not os.path.isdir(csvdir):
        sys.exit(f"peers: no {csvdir}: pass --shared")
    if a.task in ("department", "all"):
        department(csvdir)
    if a.task in ("fourway", "all"):
        fourway(csvdir)


if __name__ == "__main__":
    main()
