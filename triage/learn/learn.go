// Package learn trains, cross-validates and evaluates the triage model's
// heads: multinomial logistic regression over the model's hashed n-gram
// features, fitted with AdaGrad, class-balanced, with a softmax temperature
// fitted on held-out folds so that confidences are calibrated.
package learn

import (
	"math"
	"math/rand/v2"

	"github.com/minsheng/minsheng/triage"
)

// Doc is one training document: its features and label index.
type Doc struct {
	IDs    []uint32
	Label  int
	Weight float32 // 0 means 1
}

// Options for fitting a head.
type Options struct {
	Epochs int     // passes over the data
	Rate   float64 // AdaGrad base rate
	L2     float64 // weight decay on touched rows
	// Balance weights each class by (n / (k·n_class))^Balance: 1 fully
	// balances the classes, 0 keeps their frequencies. In between keeps some
	// of the prior (most demands are government service) while rare classes
	// still count.
	Balance float64
	// NBScale, when above 0, scales each feature's weight for each label by
	// NBScale·|r| + (1−NBScale), where r is the log-ratio of how often the
	// feature appears in documents of that label and in the others (the
	// naive-Bayes weight), and fits the rest as usual: a feature that says
	// nothing about a label learns slowly for it, one that says much learns
	// fast. It helps a head with few labelled documents (see
	// DepartmentOptions).
	NBScale float64
	// Average, when above 1, fits the head that many times, with seeds
	// Seed, Seed+1, …, and keeps the mean of their weights and biases: the
	// fits differ only in the order they see the documents, and their mean
	// varies less than any one of them.
	Average int
	Seed    uint64
	// GramWeight, when above 0, is the weight of the extra kinds of
	// features of Model.Grams against the others' 1: their buckets (the
	// upper half, Model.GramRow) are fitted at GramWeight times the rate
	// and L2 / GramWeight², which with AdaGrad is the same fit as their
	// values scaled by GramWeight, with the weight folded into their rows,
	// so that scoring needs no change.
	GramWeight float64
}

// DefaultOptions are those the committed model was trained with.
func DefaultOptions() Options {
	return Options{Epochs: 25, Rate: 0.5, L2: 1e-5, Balance: 0.5, Seed: 1}
}

// DepartmentOptions fit the department head, trained on the 495 labelled
// messages and the taxonomy: naive-Bayes scaling (NBScale), a lower rate
// and more decay than DefaultOptions, the mean of five fits (Average), and
// no self-training. Leak-free 5-fold
// CV macro-F1 on the 495 (seed 1), with the two rounds of self-training on
// 附件3 that DefaultOptions needed and without:
//
//	                                     self-training   none
//	DefaultOptions                           0.797       0.785
//	  NBScale 0.5                            0.838
//	  NBScale 0.75                           0.844       0.840
//	  NBScale 1                              0.843       0.847
//	NBScale 1, rate 1                                    0.852
//	  rate 0.2                                           0.859
//	  rate 0.1                                           0.860
//	  rate 0.2, L2 1e-4                                  0.877
//	  rate 0.2, L2 3e-4                                  0.878
//	  rate 0.2, L2 1e-3                                  0.866
//	  rate 0.5, L2 1e-4                                  0.860
//	  rate 0.2, L2 1e-4, balance 1                       0.872
//	rate 0.2, L2 1e-4, the mean of 3 seeds' fits         0.882
//	  of 5 (Average)                                     0.888
//	  of 10                                              0.888
//	  NBScale 0.75, one fit                              0.876
//	  40 epochs, one fit                                 0.877
//	  taxonomy at weight 2, one fit                      0.871
//
// Differences under 0.01 are within what another seed moves; the mean of
// several seeds' fits gained a little more at each step up to five. With
// the scaling, self-training adds nothing, so it is off (Config.SelfTrain).
// Dense features from a truncated SVD of 附件3's tf-idf matrix (LSA, 100
// dimensions), folded back into the bucket weights, lowered the CV of
// DefaultOptions (0.795, 0.773, 0.734 as their weight grew) and were dropped.
//
// The CV above is on the 495's own distribution. In case it chose options
// that do not carry to the general board, each was checked again on
// 2026-12-02 by fitting on all of the 495 (and the taxonomy) and scoring the
// 3,921 附件3 letters our helpers labelled with a sector
// (labels/department.tsv; never trained on), macro-F1 / accuracy:
//
//	these options                        0.685 / 0.774
//	DefaultOptions                       0.620 / 0.710
//	NBScale 0.5                          0.680 / 0.775
//	L2 3e-5 / 3e-4 / 1e-3                0.688 / 0.669 / 0.633
//	rate 0.1 / 0.5                       0.669 / 0.664
//	balance 0 / 1                        0.675 / 0.685
//	10 / 50 epochs                       0.690 / 0.683
//	title counted 1 / 3 / 4 times        0.675 / 0.680 / 0.665
//	taxonomy at weight 0 / 1 / 2         0.673 / 0.687 / 0.688
//
// None is better by more than 0.005, so the options stand. (The helpers
// agreed with the officials on 86.9 % of 160 control letters, which caps
// what this check can show.)
//
// Tried on 2026-12-02 (stop 26), not kept: correcting the head's prior to
// the mix of the board it serves (multiplying each sector's probability by
// target / training prior, the training prior taken as √count, since
// Balance 0.5 weights each class by count^−0.5). On those 3,921 letters,
// whose mix (59 % 城乡建设) is far from the 495's, the true mix lowered
// macro-F1 from 0.687 to 0.604 (accuracy 0.774 → 0.768), half the
// correction to 0.665 (0.784), and the mix estimated by EM (Saerens et
// al.) to 0.529; macro-F1 counts each sector alike, and a prior that
// favours the common one costs the rare ones more than it gains. So no
// prior correction was tried on the general board's mix, and the 921 was
// not scored for it.
//
// Tried on 2026-12-02 (stop 27), not kept: a complement naive-Bayes model
// (for each sector, minus the log of each bucket's smoothed share of the
// other sectors' feature mass, α 0.3, centred over the sectors) added to
// the fitted weights, times λ. A scikit-learn prototype had found it
// lifted a weaker base on those 3,921 letters (+0.04, nearly all on
// 环境保护, which that base sent to 城乡建设). Here, CV on the 495 / the
// 3,921: without 0.885 / 0.687; λ 0.05 0.892 / 0.682; λ 0.2 0.888 / 0.680;
// λ 0.8 0.865 / 0.662. The same prototype found a k-nearest-neighbour vote,
// Rocchio centroids and a linear SVM, each blended in, within ±0.007 on
// the 3,921. The 921 was not scored for any of them.
//
// Tried on 2026-12-03 (stop 29), not kept: a per-sector offset added to
// the committed head's log-probabilities, chosen by coordinate ascent for
// macro-F1 on half of those 3,921 letters and scored on the other half.
// Over three random halvings, both ways, the change on the scored half
// was −0.007, +0.016, −0.009, +0.002, −0.007 and +0.011 (mean +0.001):
// the offsets fit the half they were chosen on and no more. The 921 was
// not scored for it.
//
// Tried on 2026-12-03 (stop 30), not kept: more training documents made
// from the 495 themselves. A scikit-learn prototype (an NB-scaled logistic
// regression much weaker than this head: CV 0.711, 0.492 on the 3,921)
// gained with each letter's sentences (split at 。！？； and line ends, 5
// characters or more) as documents of the letter's sector: CV 0.742, 0.607
// on the 3,921. Here, one fit (Average 1), CV over three fold shuffles, a
// letter's copies only in the folds that train on it, and the 3,921:
//
//	                                  CV (3 shuffles)       3,921 F1 / acc
//	none                              0.865 0.857 0.871     0.682 / 0.767
//	sentences, weight 1               0.794 0.771 0.795     0.654 / 0.773
//	  weight 0.3                      0.806 0.787 0.811     0.655 / 0.775
//	  weight 0.1                      0.797 0.804 0.818     0.657 / 0.777
//	  0.1, NB counts weighted too     0.782 0.781 0.800     0.660 / 0.780
//	the title alone, weight 1         0.874 0.862 0.871     0.676 / 0.769
//	  weight 0.3                      0.872 0.862 0.875     0.674 / 0.768
//
// A sentence labelled with its letter's sector is often about nothing in
// particular (a plea to act, a date), and this head, which already keeps
// weight only where a bucket tells sectors apart, learns that noise. The
// 921 was not scored for any of them.
//
// Tried on 2026-12-03 (stop 33): semi-supervised ways of carrying the head
// to the general board with 附件3's texts, never its labels
// (TestDeptSemi, deptsemi_test.go). 附件3 is halved by near-duplicate
// group; a method sees the texts of one half and is scored on the letters
// of the other that labels/department.tsv labels, then the other way
// round (MINSHENG_DEPTSEMI names a row by its name in deptSemiMethods;
// `MINSHENG_DEPTSEMI=all go test ./triage/learn -run TestDeptSemi -v
// -timeout 0` runs them all, an hour or more on this machine). Macro-F1 /
// accuracy, the mean of both halves of two halvings
// (those marked ³ of three), and the CV on the 495 with all of 附件3 as
// the unlabelled pool. Those marked ¹ fit once (Average 1; the base then
// 0.877, 0.682 / 0.767), the rest with these options (0.885, 0.684 /
// 0.774):
//
//	                                          CV 495   3,921 halves
//	self-training, 2 rounds, p ≥ 0.7, w 0.5    0.804    0.653 / 0.792 (one halving; base 0.685)
//	  ¹ 1 round, p ≥ 0.7, w 0.2                         0.678 / 0.792
//	  ¹ 2 rounds, top half of each sector, w 0.2        0.677 / 0.789
//	  ¹ the same, w 0.5                        0.829    0.680 / 0.791
//	  ¹ 3 rounds, top 30 % of each sector, w 0.3 0.873  0.685 / 0.788
//	NB ratios (NBScale) counted over the 495
//	  and 附件3 pseudo-labelled by the head,
//	  the fit on the 495: all of them          0.890    0.674 / 0.781
//	  p ≥ 0.7                                  0.900    0.685 / 0.788
//	  top half of each sector                  0.889    0.683 / 0.789
//	  pseudo-labels of EM naive Bayes          0.890    0.663 / 0.785
//	EM naive Bayes alone (Nigam et al.; α 0.1,
//	  uniform prior): no EM                             0.589 / 0.762
//	  5 iterations, unlabelled at λ 0.1 / 1             0.501 / 0.744, 0.620 / 0.795
//	  its pseudo-labels (top half) for the head ¹       0.567 / 0.760
//	clusters of buckets (PPMI with the 500
//	  commonest within 4 positions, spherical
//	  k-means) as extra features ¹: k 300      0.876    0.654 / 0.757
//	  k 1000                                            0.657 / 0.754
//	only buckets the pool holds ¹, df ≥ 1      0.873    0.667 / 0.759
//	  df ≥ 3 / 10                                       0.657, 0.641
//	covariate-shift weights (Config.DomainShift,
//	  shiftWeights) ³, power 0.25              0.885    0.689 / 0.777
//	  power 0.5                                0.873    0.695 / 0.777
//	  power 0.5, halvings 4-6 (base 0.684)              0.692 / 0.776
//	  power 1 ¹                                         0.680 / 0.756
//
// Pseudo-labels raise accuracy (+0.015 to +0.02) but not macro-F1: they
// teach the head its own leaning (towards 城乡建设) and the rare sectors
// lose what the common one gains; balancing the picks by sector does not
// change that. Only the covariate-shift weights at power 0.5 gained on
// all twelve halves of six halvings, by +0.004 to +0.021 (mean +0.009),
// at the bar of seed noise, and they cost 0.012 of the CV on the 495, the
// officials' own distribution. Chosen on that alone, they were scored once
// on the 921 (less the 60 rows in the 495 or 附件3, 861): macro-F1 0.791,
// accuracy 0.807, against the committed head's 0.792 / 0.812. So
// Config.DomainShift (minsheng train --domain-shift) stays 0.
//
// Tried on 2026-12-03, not kept: runs of three Chinese characters
// (trigrams) and each character with the one two before it (skip-bigrams)
// as extra features (Config.Grams, Model.Grams), each kind alone, in the
// upper half of 2^19 buckets (the usual features keep their 2^18), at
// weight 1 or 0.5 (Options.GramWeight), the weights chosen before
// measuring. Rule set before: keep a kind only if the 3,921 letters'
// macro-F1 gains 0.01 or more on the mean of two seeds and the CV on the
// 495 falls by no more than 0.005. Seeds 1 and 6 (Options.Seed; five fits
// each, no seed shared), the 3,921 as the mean of both halves of halving 1:
//
//	MINSHENG_SHARED=… MINSHENG_DEPTSEMI=base MINSHENG_DEPTSEMI_SPLITS=1
//	MINSHENG_DEPTSEMI_SEED=1|6 MINSHENG_DEPTSEMI_GRAMS=tri|skip
//	MINSHENG_DEPTSEMI_GRAMWEIGHT=1|0.5 go test ./triage/learn -run TestDeptSemi -v
//
//	                    CV 495 (1 / 6)   3,921 F1 / acc (1; 6)       mean F1
//	none                0.885 0.895      0.685/0.774; 0.677/0.771    0.681
//	trigrams, weight 1  0.881 0.882      0.683/0.770; 0.682/0.764    0.683
//	  weight 0.5        0.889 0.893      0.686/0.775; 0.681/0.769    0.684
//	skip-bigrams, 1     0.879 0.886      0.674/0.767; 0.671/0.761    0.673
//	  weight 0.5        0.889 0.895      0.683/0.773; 0.672/0.766    0.678
//
// None gains 0.01 on the 3,921 (the best +0.003), so the 921 was not
// scored; the class head lost with each (ClassOptions).
func DepartmentOptions() Options {
	return Options{Epochs: 25, Rate: 0.2, L2: 1e-4, Balance: 0.5, NBScale: 1, Average: 5, Seed: 1}
}

// ClassOptions fit the class head, trained on the four-way labels, whose
// labels are noisier and classes rarer than the department's and the
// screen's (the lead head, on the same labels, has LeadOptions).
// Macro-F1 held out in 5-fold CV on those labels (seed 1): over the five
// classes; over the four valid ones on all of 附件3; and against the second
// labeller's 300 rows (second-opinion.tsv), which no head trains on:
//
//	DefaultOptions                       0.689  0.640  0.648
//	rate 0.2, L2 1e-4, balance 1         0.736  0.668  0.651
//	  the same, balance 0.7              0.733  0.669  0.654
//	  the same, 60 epochs                0.734  0.670  0.636
//	  the same, L2 3e-4                  0.729  0.671  0.635
//	  the same, rate 0.5                 0.693  0.629  0.594
//	rate 0.1, L2 1e-4, balance 1         0.748  0.683  0.711
//	  the same, rate 0.05                0.750  0.684  0.710
//	  the same, 40 epochs                0.751  0.684  0.724
//	  rate 0.05, 50 epochs               0.754  0.689  0.699
//	  rate 0.02                          0.734  0.679
//
// Differences under 0.01 are within what another seed moves.
//
// Chosen again on 2026-12-01 on the fairer CV that keeps near-duplicate
// letters in one fold (groupedFolds; titles at weight 0.1), over the four
// valid classes: all letters / 附件3 / the 495 (the general board), seeds
// 1, 2 and 3:
//
//	rate 0.1, 25 epochs (before)   0.631 0.635 0.631 / 0.636 0.639 0.640 / 0.580 0.589 0.563
//	rate 0.05, 40 epochs (chosen)  0.640 0.638 0.647 / 0.645 0.640 0.650 / 0.591 0.594 0.602
//	  seed 1 only: rate 0.05, 60 epochs 0.635 / 0.638 / 0.586; rate 0.03, 60 epochs 0.641 / 0.644 / 0.598;
//	  L2 3e-4 0.630 / 0.638 / 0.560; L2 1e-3 0.618 / 0.624 / 0.551; L2 3e-5 0.630 / 0.635 / 0.579;
//	  balance 0.5 0.606 / 0.617 / 0.533; 15 epochs 0.632 / 0.638 / 0.575; mean of 3 fits 0.635 / 0.644 / 0.567
//
// The gain is small (+0.010 over all, +0.019 on the 495, the mean of three
// seeds) but the same sign at every seed.
//
// Also tried on 2026-12-01 on that CV (seed 1), against 0.640 / 0.645 /
// 0.591 for the chosen options, and not kept: naive-Bayes scaling, which
// made the department head (NBScale 1, rate 0.2: 0.572 / 0.589 / 0.460;
// NBScale 0.5: 0.629 / 0.637 / 0.550); and the last 60 or 150 characters of
// the body hashed again as features of their own, where a letter says what
// it asks for (0.637 / 0.646 / 0.572 and 0.623 / 0.630 / 0.553).
//
// Tried on 2026-12-01 (stop 19) on the same grouped CV, and not kept: a
// full-batch L-BFGS fit of the same weighted log loss plus L2, in case
// AdaGrad's per-weight steps held the head back (scikit-learn's logistic
// regression over sublinear TF-IDF had scored 0.667 on a Python redo of
// this CV, with other groups and folds). 100 iterations, all / 附件3 / 495:
//
//	L-BFGS, our features, L2 3e-5 (1e-5)      0.636 / 0.647 / 0.573 (0.639 / 0.651 / 0.567)
//	  IDF as a per-bucket scale, L2 3e-5       0.637 / 0.647 / 0.556 (1e-4: 0.631 / 0.643 / 0.548)
//	  sublinear tf, IDF, unit length           0.594 / 0.602 / 0.544 (300 iterations: 0.592); no IDF 0.615
//
// The solver is not what holds the head back; scikit-learn's transform does
// worse here than our counts over √n.
//
// Tried on 2026-12-02 (stop 23) in a whole training, not kept: runs of three
// Chinese characters as features besides one and two (same 2^18 buckets).
// The grouped figure over all letters fell from 0.640 to 0.611, the
// ordinary CV from 0.751 to 0.746, and the department head's CV on the 495
// from 0.885 to 0.870; it would also add half again to the features an item
// is scored on.
//
// Tried on 2026-12-02 (stop 26) in a scikit-learn prototype only, not
// built: the text's length as features. Our document vectors have unit
// length, so how long a letter is never reaches the head, and petitions
// and media letters run longer than service requests. One-hot buckets of
// log2(characters) beside character 1-2 gram TF-IDF (logistic regression,
// C = 3, balanced; 5-fold CV, two seeds), over the four valid classes, all
// / 附件3 / the 495: without 0.683 0.680 / 0.697 0.695 / 0.592 0.593; with
// them at 0.3 0.661 0.660 / 0.675 0.675 / 0.565 0.571, at 1.0 0.660
// 0.656 / 0.673 0.669 / 0.569 0.571. Lower everywhere, so not built.
// Words from a segmenter (jieba 0.42, Debian's python3-jieba: words and
// pairs of words, TF-IDF), in the same prototype: alone 0.644 0.621 /
// 0.664 0.640 / 0.514 0.496; beside the characters 0.666 0.653 / 0.685
// 0.669 / 0.556 0.553. Characters alone do better, so no segmenter (and
// no dictionary in the binary) was built.
//
// Tried on 2026-12-02 (stop 27), not kept: cleaner labels rather than
// other options. The 420 letters whose label the head, held out with
// near-duplicates in one fold, contradicted at p ≥ 0.6 were read again
// blind (labels/blind-reads.tsv); taking the re-read where it sided with
// the head (154 rows) lowered the figure against the second labeller from
// 0.724 to 0.679 (labels/README.md, "Blind re-reads").
//
// Tried on 2026-12-03, whole trainings at seed 1, not kept: trigrams or
// skip-bigrams of Chinese characters in buckets of their own (see
// DepartmentOptions; `minsheng train --bits 19 --grams tri|skip
// --gram-weight 1|0.5`). Rule set before: keep only if the grouped figure
// over all letters gains 0.01 or more and the second labeller's does not
// fall. Grouped over the four valid classes, all / 附件3 / the 495; the
// second labeller; the ordinary CV over five classes; titles sent alone:
//
//	none                     0.640 / 0.645 / 0.591   0.724   0.751   0.605
//	trigrams, weight 1       0.616 / 0.624 / 0.546   0.706   0.743   0.615
//	  weight 0.5             0.622 / 0.629 / 0.561   0.713   0.749   0.614
//	skip-bigrams, weight 1   0.619 / 0.627 / 0.555   0.714   0.741   0.611
//	  weight 0.5             0.627 / 0.633 / 0.561   0.704   0.747   0.612
//
// Every one lowers the grouped figure (by 0.013 to 0.024) and the second
// labeller's (by 0.010 to 0.020); only the titles sent alone gain (+0.006
// to +0.010). The lead head's 5-fold macro-F1 rose from 0.793 to 0.794 /
// 0.805 / 0.796 / 0.801 (not its measure; its recall at the top 20 % was
// not compared). The features feed every head, so none was kept.
func ClassOptions() Options {
	return Options{Epochs: 40, Rate: 0.05, L2: 1e-4, Balance: 1, Seed: 1}
}

// LeadOptions fit the lead head. What matters for a lead is how many of
// them a given share of flagged items holds, so options are compared by the
// head's held-out recall when the top 20 % and 25 % of its probabilities
// are flagged, leak-free 5-fold CV: over all four-way labels, and over the
// rows of the fifth to seventh label passes (labelled after the lead rules
// were chosen, by other labellers):
//
//	                                     all          passes 5-7
//	DefaultOptions                       0.781 0.812  0.764 0.798
//	ClassOptions (rate 0.1)              0.817 0.846  0.792 0.831
//	  the same, L2 3e-4                  0.820 0.837  0.787 0.809
//	  rate 0.05                          0.820 0.856  0.803 0.860
//	  rate 0.05, 40 epochs               0.817 0.851  0.798 0.854
//	  rate 0.02                          0.827 0.863  0.826 0.893
//	  rate 0.02, balance 0.7             0.822 0.863  0.831 0.888
//	  rate 0.01                          0.829 0.877  0.860 0.910
//	  rate 0.005                         0.839 0.865  0.871 0.888
//
// A small rate over 25 epochs keeps the head from fitting the few words of
// each lead; the engine's threshold is then read off the table
// `minsheng train` prints.
//
// Tried on 2026-12-01 and not kept: scoring each sentence (split at 。！？；
// and line breaks, the title as one) with the head as well, because an
// accusation made in passing in a long letter is diluted in the document's
// score. Held-out precision of the head (built-in lead rules forced on) at
// recall 0.85 / 0.90 / 0.925 over the four-way labels: the document alone
// 0.428 / 0.306 / 0.281; the most leading sentence alone 0.296 / 0.218 /
// 0.180; the document's logit plus 0.25, 0.5 or 1 times the sentence's
// 0.430-0.432 / 0.321-0.342 / 0.265-0.275; only sentences naming an
// official, 0.438-0.449 / 0.327-0.343 / 0.266-0.275. With the actor guard
// the document alone gives 0.438 / 0.326 / 0.272 and the best mix 0.435 /
// 0.341 / 0.269: no gain outside what a fold moves, at the recall the
// issue asks for none.
func LeadOptions() Options {
	return Options{Epochs: 25, Rate: 0.01, L2: 1e-4, Balance: 1, Seed: 1}
}

// Fit trains head h of m on docs, replacing its weights and bias.
func Fit(m *triage.Model, h *triage.Head, docs []Doc, o Options) {
	fitWith(m, h, docs, nil, o)
}

// fitWith is Fit with the naive-Bayes ratios of NBScale counted over
// nbDocs instead of docs (nil: over docs).
func fitWith(m *triage.Model, h *triage.Head, docs, nbDocs []Doc, o Options) {
	if o.Average <= 1 {
		fitOnce(m, h, docs, nbDocs, o)
		return
	}
	k, n := len(h.Labels), 1<<m.Bits
	sum, bias := make([]float32, n*k), make([]float32, k)
	for i := range o.Average {
		one := o
		one.Seed, one.Average = o.Seed+uint64(i), 0
		fitOnce(m, h, docs, nbDocs, one)
		for f := range n {
			for j, x := range m.Weights(h, uint32(f)) {
				sum[f*k+j] += x
			}
		}
		for j, b := range h.Bias {
			bias[j] += b
		}
	}
	inv := 1 / float32(o.Average)
	for f := range n {
		w := m.Weights(h, uint32(f))
		for j := range w {
			w[j] = sum[f*k+j] * inv
		}
	}
	for j := range h.Bias {
		h.Bias[j] = bias[j] * inv
	}
}

func fitOnce(m *triage.Model, h *triage.Head, docs, nbDocs []Doc, o Options) {
	k := len(h.Labels)
	for i := range h.Bias {
		h.Bias[i] = 0
	}
	// Every row of the head starts at zero, not only the rows of docs'
	// features: in cross-validation a feature found only in the held-out
	// fold would otherwise keep the weight an earlier fold learnt from those
	// very documents, and the held-out figures would flatter the model.
	for f := range uint32(1) << m.Bits {
		clear(m.Weights(h, f))
	}
	cw := classWeights(docs, k, o.Balance)
	g2 := make([]float32, (1<<m.Bits)*k) // AdaGrad's sums of squares
	// With NBScale the fitted parameters are u, and a weight is s·u.
	var s, u []float32
	if o.NBScale > 0 {
		if nbDocs == nil {
			nbDocs = docs
		}
		s = nbScales(nbDocs, k, 1<<m.Bits, o.NBScale)
		u = make([]float32, len(s))
	}
	bg2 := make([]float64, k)
	order := make([]int, len(docs))
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(o.Seed, 7))
	var scores []float32
	p := make([]float64, 0, k)
	grad := make([]float32, k)
	for range o.Epochs {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, di := range order {
			d := docs[di]
			scores = m.ScoreHead(h, d.IDs, scores)
			p = softmax(scores, p)
			wt := cw[d.Label]
			if d.Weight > 0 {
				wt *= float64(d.Weight)
			}
			for j := range k {
				y := 0.0
				if j == d.Label {
					y = 1
				}
				grad[j] = float32((p[j] - y) * wt)
				bg2[j] += float64(grad[j]) * float64(grad[j])
				h.Bias[j] -= float32(o.Rate * float64(grad[j]) / math.Sqrt(bg2[j]+1e-8))
			}
			v := triage.Value(len(d.IDs))
			for _, f := range d.IDs {
				w := m.Weights(h, f)
				g := g2[int(f)*k : int(f)*k+k]
				rate, l2 := float32(o.Rate), float32(o.L2)
				if gw := o.GramWeight; gw > 0 && m.GramRow(f) {
					rate, l2 = float32(o.Rate*gw), float32(o.L2/(gw*gw))
				}
				if s != nil {
					sf, uf := s[int(f)*k:int(f)*k+k], u[int(f)*k:int(f)*k+k]
					for j := range k {
						gj := grad[j]*v*sf[j] + l2*uf[j]
						g[j] += gj * gj
						uf[j] -= rate * gj / float32(math.Sqrt(float64(g[j])+1e-8))
						w[j] = sf[j] * uf[j]
					}
					continue
				}
				for j := range k {
					gj := grad[j]*v + l2*w[j]
					g[j] += gj * gj
					w[j] -= rate * gj / float32(math.Sqrt(float64(g[j])+1e-8))
				}
			}
		}
	}
}

// nbScales returns, for each of n buckets and k labels, beta·|r| + (1−beta),
// where r = log(p/q): p is the share of the label's feature presences that
// are this bucket's, q the same share over the other labels' documents, each
// with one added to the counts. A document counts a bucket once however
// often it holds it; buckets no document holds keep 0.
func nbScales(docs []Doc, k, n int, beta float64) []float32 {
	cnt := make([]float32, n*k)
	tot := make([]float64, k)
	seen := make(map[uint32]bool)
	for _, d := range docs {
		clear(seen)
		for _, f := range d.IDs {
			if !seen[f] {
				seen[f] = true
				cnt[int(f)*k+d.Label]++
			}
		}
		tot[d.Label] += float64(len(seen))
	}
	var all float64
	for _, t := range tot {
		all += t
	}
	s := make([]float32, n*k)
	for f := range n {
		c := cnt[f*k : f*k+k]
		var sum float64
		for _, x := range c {
			sum += float64(x)
		}
		if sum == 0 {
			continue
		}
		for j := range k {
			p := (float64(c[j]) + 1) / (tot[j] + 1)
			q := (sum - float64(c[j]) + 1) / (all - tot[j] + 1)
			s[f*k+j] = float32(beta*math.Abs(math.Log(p/q)) + (1 - beta))
		}
	}
	return s
}

func classWeights(docs []Doc, k int, balance float64) []float64 {
	cw := make([]float64, k)
	for i := range cw {
		cw[i] = 1
	}
	if balance == 0 {
		return cw
	}
	n := make([]float64, k)
	for _, d := range docs {
		n[d.Label]++
	}
	for i := range cw {
		if n[i] > 0 {
			cw[i] = math.Pow(float64(len(docs))/(float64(k)*n[i]), balance)
		}
	}
	return cw
}

func softmax(s []float32, p []float64) []float64 {
	p = p[:0]
	mx := math.Inf(-1)
	for _, x := range s {
		mx = math.Max(mx, float64(x))
	}
	sum := 0.0
	for _, x := range s {
		e := math.Exp(float64(x) - mx)
		p = append(p, e)
		sum += e
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// Predict returns the probabilities of head h for one document, from the
// float weights at temperature 1.
func Predict(m *triage.Model, h *triage.Head, ids []uint32) []float64 {
	return softmax(m.ScoreHead(h, ids, nil), nil)
}

// FitTemperature picks the softmax temperature that minimises the negative
// log-likelihood of held-out predictions made at temperature 1.
func FitTemperature(probs [][]float64, labels []int) float32 {
	best, bestNLL := 1.0, math.Inf(1)
	for t := 0.2; t <= 5.0; t += 0.05 {
		nll := 0.0
		for i, p := range probs {
			// p ∝ exp(s); at temperature t, p' ∝ p^(1/t)
			sum := 0.0
			for _, x := range p {
				sum += math.Pow(x, 1/t)
			}
			nll -= math.Log(math.Max(math.Pow(p[labels[i]], 1/t)/sum, 1e-12))
		}
		if nll < bestNLL {
			best, bestNLL = t, nll
		}
	}
	return float32(best)
}

// FitBand fits a temperature and an offset per label to held-out
// predictions made at temperature 1, minimising their log loss under
// softmax(log p / t + o): the temperature alone (FitTemperature) rescales
// how sure the head is, the offsets give back the labels' rates, which a
// head trained with balanced classes evens out (triage.Band.Offsets).
// Coordinate descent from FitTemperature's answer and no offsets, in steps
// that halve from 0.1 to under 0.005; the most frequent label's offset
// stays 0 (adding one number to all changes nothing).
func FitBand(probs [][]float64, labels []int) (float32, []float32) {
	if len(probs) == 0 {
		return 1, nil
	}
	k := len(probs[0])
	logp := make([][]float64, len(probs))
	count := make([]int, k)
	for i, p := range probs {
		logp[i] = make([]float64, k)
		for j, x := range p {
			logp[i][j] = math.Log(math.Max(x, 1e-12))
		}
		count[labels[i]]++
	}
	ref := 0
	for j := range count {
		if count[j] > count[ref] {
			ref = j
		}
	}
	nll := func(t float64, o []float64) float64 {
		sum := 0.0
		z := make([]float64, k)
		for i, lp := range logp {
			mx := math.Inf(-1)
			for j, x := range lp {
				z[j] = x/t + o[j]
				mx = math.Max(mx, z[j])
			}
			e := 0.0
			for _, x := range z {
				e += math.Exp(x - mx)
			}
			sum += mx + math.Log(e) - z[labels[i]]
		}
		return sum
	}
	t, o := float64(FitTemperature(probs, labels)), make([]float64, k)
	best := nll(t, o)
	for step := 0.1; step >= 0.005; {
		improved := false
		for j := -1; j < k; j++ { // -1: the temperature
			if j == ref {
				continue
			}
			for _, d := range []float64{step, -step} {
				t2, keep := t, 0.0
				if j < 0 {
					if t2 = t + d; t2 < 0.2 || t2 > 5 {
						continue
					}
				} else {
					if keep = o[j]; math.Abs(keep+d) > triage.MaxBandOffset/2 {
						continue
					}
					o[j] = keep + d
				}
				if v := nll(t2, o); v < best-1e-9 {
					best, t, improved = v, t2, true
					break
				}
				if j >= 0 {
					o[j] = keep
				}
			}
		}
		if !improved {
			step /= 2
		}
	}
	out := make([]float32, k)
	for j, x := range o {
		out[j] = float32(x)
	}
	return float32(t), out
}

// FitBias picks an offset per label, added to the log-probabilities of
// held-out predictions made at temperature 1, that maximises their
// macro-F1: a rare class the model under-predicts gets a push up, one it
// over-predicts a push down. Coordinate ascent over [-1.5, 1.5] in steps of
// 0.1; on a tie the smaller offset wins. Only the docs for which use(i) is
// true count (nil: all).
func FitBias(probs [][]float64, labels []int, n int, use func(int) bool) []float64 {
	off := make([]float64, n)
	best := biasedReport(probs, labels, n, off, use).MacroF1()
	for range 3 {
		for c := range n {
			keep := off[c]
			for step := -15; step <= 15; step++ {
				off[c] = float64(step) / 10
				s := biasedReport(probs, labels, n, off, use).MacroF1()
				if s > best+1e-9 || (s > best-1e-9 && math.Abs(off[c]) < math.Abs(keep)) {
					best, keep = s, off[c]
				}
			}
			off[c] = keep
		}
	}
	return off
}

// biasedReport scores held-out predictions with offsets added to their
// log-probabilities; only the docs for which use(i) is true (nil: all).
func biasedReport(probs [][]float64, labels []int, n int, off []float64, use func(int) bool) *Report {
	rep := NewReport(make([]string, n))
	for i, p := range probs {
		if use != nil && !use(i) {
			continue
		}
		bi, bv := 0, math.Inf(-1)
		for k, x := range p {
			if v := math.Log(math.Max(x, 1e-300)) + off[k]; v > bv {
				bi, bv = k, v
			}
		}
		rep.Add(labels[i], bi)
	}
	return rep
}

// CrossFitBias estimates what FitBias's offsets are worth on unseen docs:
// offsets fitted on the even-numbered held-out predictions are scored on
// the odd ones and the other way round, and the two halves' predictions
// are counted together. It returns that report and the macro-F1 without
// offsets.
func CrossFitBias(probs [][]float64, labels []int, names []string) (crossFitted *Report, without float64) {
	n := len(names)
	even := func(i int) bool { return i%2 == 0 }
	odd := func(i int) bool { return i%2 == 1 }
	a := biasedReport(probs, labels, n, FitBias(probs, labels, n, even), odd)
	b := biasedReport(probs, labels, n, FitBias(probs, labels, n, odd), even)
	rep := NewReport(names)
	for g := range n {
		for p := range n {
			rep.Confusion[g][p] = a.Confusion[g][p] + b.Confusion[g][p]
		}
	}
	rep.N = a.N + b.N
	return rep, biasedReport(probs, labels, n, make([]float64, n), nil).MacroF1()
}
