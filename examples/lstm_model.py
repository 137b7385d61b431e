"""A small word-level language model: embedding -> LSTM -> linear decoder.

The quantization problem it carries on purpose is the ``nn.LSTM`` itself: its
gates are computed inside one fused kernel, so a module-level quantizer cannot
quantize them. Distiller's answer is ``convert_model_to_distiller_lstm``, which
swaps it for ``DistillerLSTM`` (a modular LSTM built from Linear and element-wise
modules). Note that the swap changes the state_dict keys.

Tokens are sequence-first, ``(seq_len, batch)``, as in Distiller's
``word_language_model`` example.
"""

import torch
import torch.nn as nn


class LSTMLanguageModel(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_size, num_layers):
        super().__init__()
        self.encoder = nn.Embedding(vocab_size, embed_dim)
        # dropout=0 keeps train and eval mode outputs comparable between an
        # original and a converted model.
        self.rnn = nn.LSTM(embed_dim, hidden_size, num_layers)
        self.decoder = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens, hidden=None):
        emb = self.encoder(tokens)
        output, hidden = self.rnn(emb, hidden)
        logits = self.decoder(output)
        return logits, hidden


def build():
    return LSTMLanguageModel(vocab_size=50, embed_dim=16, hidden_size=24, num_layers=2)


def example_inputs():
    # (seq_len, batch) token ids
    return (torch.randint(0, 50, (5, 3), dtype=torch.long),)
