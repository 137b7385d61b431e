"""Test-only stand-in for ``distiller.modules``. Never installed, never shipped.

It mirrors the API table of /work/shared/distiller-api.md: the same class names,
constructor signatures and forward calling conventions as Distiller's own
modules, because those conventions are what a rewrite must get right (``Concat``
takes its tensors as varargs, ``Stack`` takes ONE sequence, ``EltwiseAdd`` with
``inplace=True`` mutates its first input, ...). Anything a test relies on beyond
the table is marked as such below.

Differences from Distiller that are deliberate:

* ``DistillerLSTMCell.forward(x, h=None)`` builds its zero state from the batch
  size ``x.size(0)`` (Distiller reads ``x.size(1)``, which only works when ``h`` is
  given) on ``x``'s device.
* ``DistillerLSTM`` does not accept ``PackedSequence`` inputs, and, like Distiller,
  raises ``NotImplementedError`` for ``bidirectional_type=1``.
"""

from itertools import product

import torch
import torch.nn as nn

__all__ = [
    "EltwiseAdd",
    "EltwiseSub",
    "EltwiseMult",
    "EltwiseDiv",
    "Matmul",
    "BatchMatmul",
    "Concat",
    "Stack",
    "Chunk",
    "Split",
    "Mean",
    "Norm",
    "DistillerLSTMCell",
    "DistillerLSTM",
    "convert_model_to_distiller_lstm",
]


# ---------------------------------------------------------------------------
# Element-wise operations
# ---------------------------------------------------------------------------


class EltwiseAdd(nn.Module):
    """``inputs[0] + inputs[1] + ...``; with ``inplace=True`` the sum is
    accumulated into ``inputs[0]`` (``res += t``), which is what keeps the
    semantics of ``out += identity``."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, *inputs):
        res = inputs[0]
        if self.inplace:
            for t in inputs[1:]:
                res += t
        else:
            for t in inputs[1:]:
                res = res + t
        return res

    def extra_repr(self):
        return f"inplace={self.inplace}"


class EltwiseSub(nn.Module):
    """``inputs[0] - inputs[1] - ...``, same in-place convention as EltwiseAdd."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, *inputs):
        res = inputs[0]
        if self.inplace:
            for t in inputs[1:]:
                res -= t
        else:
            for t in inputs[1:]:
                res = res - t
        return res

    def extra_repr(self):
        return f"inplace={self.inplace}"


class EltwiseMult(nn.Module):
    """``inputs[0] * inputs[1] * ...``, same in-place convention as EltwiseAdd."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, *inputs):
        res = inputs[0]
        if self.inplace:
            for t in inputs[1:]:
                res *= t
        else:
            for t in inputs[1:]:
                res = res * t
        return res

    def extra_repr(self):
        return f"inplace={self.inplace}"


class EltwiseDiv(nn.Module):
    """``x / y`` for exactly two operands (unlike the varargs add/sub/mult)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x, y):
        if self.inplace:
            return x.div_(y)
        return x.div(y)

    def extra_repr(self):
        return f"inplace={self.inplace}"


# ---------------------------------------------------------------------------
# Matrix products
# ---------------------------------------------------------------------------


class Matmul(nn.Module):
    """``a.matmul(b)``: broadcasting matrix product, the module form of ``a @ b``."""

    def forward(self, a, b):
        return a.matmul(b)


class BatchMatmul(nn.Module):
    """``torch.bmm(a, b)``: strictly 3-D batched product, no broadcasting."""

    def forward(self, a, b):
        return torch.bmm(a, b)


# ---------------------------------------------------------------------------
# Grouping
# ---------------------------------------------------------------------------


class Concat(nn.Module):
    """``torch.cat(seq, dim)`` with the tensors passed as VARARGS:
    ``torch.cat([a, b], dim=1)`` becomes ``Concat(dim=1)(a, b)`` and
    ``torch.cat(xs, 1)`` becomes ``Concat(dim=1)(*xs)``. The default dim is 0."""

    def __init__(self, dim=0):
        super().__init__()
        self.dim = dim

    def forward(self, *seq):
        return torch.cat(seq, dim=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Stack(nn.Module):
    """``torch.stack(seq, dim)`` with ONE sequence argument (unlike Concat)."""

    def __init__(self, dim=0):
        super().__init__()
        self.dim = dim

    def forward(self, seq):
        return torch.stack(seq, dim=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Chunk(nn.Module):
    """``t.chunk(chunks, dim)``."""

    def __init__(self, chunks, dim=0):
        super().__init__()
        self.chunks = chunks
        self.dim = dim

    def forward(self, t):
        return t.chunk(self.chunks, dim=self.dim)

    def extra_repr(self):
        return f"chunks={self.chunks}, dim={self.dim}"


class Split(nn.Module):
    """``torch.split(t, split_size_or_sections, dim)``."""

    def __init__(self, split_size_or_sections, dim=0):
        super().__init__()
        self.split_size_or_sections = split_size_or_sections
        self.dim = dim

    def forward(self, t):
        return torch.split(t, self.split_size_or_sections, dim=self.dim)

    def extra_repr(self):
        return f"split_size_or_sections={self.split_size_or_sections}, dim={self.dim}"


# ---------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------


class Mean(nn.Module):
    """``torch.mean(x, *args, **kwargs)``: the constructor takes the mean's own
    arguments (``Mean(dim=1, keepdim=True)``), forward takes only the tensor."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.args = args
        self.kwargs = kwargs

    def forward(self, x):
        return torch.mean(x, *self.args, **self.kwargs)


class Norm(nn.Module):
    """``torch.norm(x, p, dim, keepdim)``."""

    def __init__(self, p="fro", dim=None, keepdim=False):
        super().__init__()
        self.p = p
        self.dim = dim
        self.keepdim = keepdim

    def forward(self, x):
        return torch.norm(x, p=self.p, dim=self.dim, keepdim=self.keepdim)


# ---------------------------------------------------------------------------
# LSTM
# ---------------------------------------------------------------------------


class DistillerLSTMCell(nn.Module):
    """An LSTM cell made of modules, so that every gate computation is visible to
    a module-level quantizer: two Linear layers for the stacked gates, separate
    activation modules per gate and element-wise modules for the state update.

    Gate order is nn.LSTMCell's (i, f, g, o), so weights copy over unchanged.
    forward(x, h=None) takes ``x`` of shape (batch, input_size) and returns the
    new ``(h, c)``, each (batch, hidden_size).
    """

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias

        # The four gates are computed by one projection each of x and of h.
        self.fc_gate_x = nn.Linear(input_size, hidden_size * 4, bias=bias)
        self.fc_gate_h = nn.Linear(hidden_size, hidden_size * 4, bias=bias)
        self.eltwiseadd_gate = EltwiseAdd()
        self.act_f = nn.Sigmoid()
        self.act_i = nn.Sigmoid()
        self.act_o = nn.Sigmoid()
        self.act_g = nn.Tanh()
        # c = f * c_prev + i * g
        self.eltwisemult_cell_forget = EltwiseMult()
        self.eltwisemult_cell_input = EltwiseMult()
        self.eltwiseadd_cell = EltwiseAdd()
        # h = o * tanh(c)
        self.act_h = nn.Tanh()
        self.eltwisemult_hidden = EltwiseMult()
        self.init_weights()

    def forward(self, x, h=None):
        if h is None:
            h = self.init_hidden(x.size(0), device=x.device, dtype=x.dtype)
        h_prev, c_prev = h
        fc_gate = self.eltwiseadd_gate(self.fc_gate_x(x), self.fc_gate_h(h_prev))
        i, f, g, o = torch.chunk(fc_gate, 4, dim=1)
        i, f, g, o = self.act_i(i), self.act_f(f), self.act_g(g), self.act_o(o)
        cf = self.eltwisemult_cell_forget(f, c_prev)
        ci = self.eltwisemult_cell_input(i, g)
        c = self.eltwiseadd_cell(cf, ci)
        h = self.eltwisemult_hidden(o, self.act_h(c))
        return h, c

    def init_hidden(self, batch_size, device=None, dtype=None):
        h_0 = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        c_0 = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return h_0, c_0

    def init_weights(self):
        bound = 1 / self.hidden_size ** 0.5
        self.fc_gate_x.weight.data.uniform_(-bound, bound)
        self.fc_gate_h.weight.data.uniform_(-bound, bound)

    def to_pytorch_impl(self):
        module = nn.LSTMCell(self.input_size, self.hidden_size, self.bias)
        module.weight_ih = nn.Parameter(self.fc_gate_x.weight.clone().detach())
        module.weight_hh = nn.Parameter(self.fc_gate_h.weight.clone().detach())
        if self.bias:
            module.bias_ih = nn.Parameter(self.fc_gate_x.bias.clone().detach())
            module.bias_hh = nn.Parameter(self.fc_gate_h.bias.clone().detach())
        return module

    @staticmethod
    def from_pytorch_impl(lstmcell: nn.LSTMCell):
        module = DistillerLSTMCell(lstmcell.input_size, lstmcell.hidden_size, bias=lstmcell.bias)
        module.fc_gate_x.weight = nn.Parameter(lstmcell.weight_ih.clone().detach())
        module.fc_gate_h.weight = nn.Parameter(lstmcell.weight_hh.clone().detach())
        if lstmcell.bias:
            module.fc_gate_x.bias = nn.Parameter(lstmcell.bias_ih.clone().detach())
            module.fc_gate_h.bias = nn.Parameter(lstmcell.bias_hh.clone().detach())
        return module

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


def process_sequence_wise(cell, x, h=None):
    """Run ``cell`` over a sequence-first ``x``; returns (stacked outputs, (h, c))."""
    results = []
    for step in x:
        h = cell(step, h)
        results.append(h[0])
    return torch.stack(results), h


def _repackage_hidden_unidirectional(h_per_layer):
    """[(h_l, c_l), ...] -> (h, c) stacked as (num_layers, batch, hidden), nn.LSTM's layout."""
    return (
        torch.stack([t[0] for t in h_per_layer], 0),
        torch.stack([t[1] for t in h_per_layer], 0),
    )


def _unpack_bidirectional_input_h(h):
    """nn.LSTM interleaves directions per layer (l0 fwd, l0 bwd, l1 fwd, ...)."""
    h_t, c_t = h
    return (h_t[::2], c_t[::2]), (h_t[1::2], c_t[1::2])


class DistillerLSTM(nn.Module):
    """A multi-layer LSTM made of DistillerLSTMCell-s.

    Same call convention and hidden-state layout as nn.LSTM (``forward(x, h=None)
    -> (y, (h_n, c_n))``, h_n of shape (num_layers * num_directions, batch,
    hidden)), but a different state_dict: ``cells.<l>.fc_gate_x.weight`` etc.
    ``dropout`` is applied between layers, as in nn.LSTM (note the 0.5 default).
    Bidirectional type 2 (the nn.LSTM behaviour) processes the whole sequence
    layer by layer, feeding both directions' outputs to the next layer.
    """

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers,
        bias=True,
        batch_first=False,
        dropout=0.5,
        bidirectional=False,
        bidirectional_type=2,
    ):
        super().__init__()
        if num_layers < 1:
            raise ValueError("Number of layers has to be at least 1.")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.bidirectional = bidirectional
        self.bidirectional_type = bidirectional_type

        if bidirectional:
            if bidirectional_type == 1:
                # Distiller never finished type 1 either.
                raise NotImplementedError("bidirectional_type=1 is not implemented")
            if bidirectional_type != 2:
                raise ValueError("The only allowed types are [1, 2].")
            self.cells = self._create_cells_list(2)
            self.cells_reverse = self._create_cells_list(2)
        else:
            self.cells = self._create_cells_list(1)

        self.dropout = nn.Dropout(dropout)
        self.dropout_factor = dropout

    def _create_cells_list(self, hidden_size_scale):
        cells = nn.ModuleList([DistillerLSTMCell(self.input_size, self.hidden_size, self.bias)])
        for _ in range(1, self.num_layers):
            input_size = hidden_size_scale * self.hidden_size
            cells.append(DistillerLSTMCell(input_size, self.hidden_size, self.bias))
        return cells

    def forward(self, x, h=None):
        if isinstance(x, nn.utils.rnn.PackedSequence):
            raise NotImplementedError("the test stand-in does not support PackedSequence")
        if self.batch_first:
            x = x.transpose(0, 1)
        if h is None:
            h = self.init_hidden(x.size(1))
        if self.bidirectional:
            y, h = self._bidirectional_type2_forward(x, h)
        else:
            y, h = self._unidirectional_forward(x, h)
        if self.batch_first:
            y = y.transpose(0, 1)
        return y, h

    def _unidirectional_forward(self, x, h):
        """Time-step by time-step through the whole layer chain."""
        h_all, c_all = h
        results = []
        for step in x:
            h_per_layer = []
            out = step
            for i, cell in enumerate(self.cells):
                out, c = cell(out, (h_all[i], c_all[i]))
                h_per_layer.append((out, c))
                if i < self.num_layers - 1:
                    out = self.dropout(out)
            h_all, c_all = _repackage_hidden_unidirectional(h_per_layer)
            results.append(out)
        return torch.stack(results), (h_all, c_all)

    def _bidirectional_type2_forward(self, x, h):
        """Layer by layer over the whole sequence, both directions per layer."""
        (h_front_all, c_front_all), (h_back_all, c_back_all) = _unpack_bidirectional_input_h(h)
        out = x
        h_result, c_result = [], []
        for i, (cell_front, cell_back) in enumerate(zip(self.cells, self.cells_reverse)):
            h_front = (h_front_all[i], c_front_all[i])
            h_back = (h_back_all[i], c_back_all[i])
            out_front, h_front = process_sequence_wise(cell_front, out, h_front)
            out_back, h_back = process_sequence_wise(cell_back, out.flip([0]), h_back)
            out = torch.cat([out_front, out_back.flip([0])], dim=-1)
            h_result += [h_front[0], h_back[0]]
            c_result += [h_front[1], h_back[1]]
            if i < self.num_layers - 1:
                out = self.dropout(out)
        return out, (torch.stack(h_result, dim=0), torch.stack(c_result, dim=0))

    def init_hidden(self, batch_size):
        weight = next(self.parameters())
        n_dir = 2 if self.bidirectional else 1
        shape = (self.num_layers * n_dir, batch_size, self.hidden_size)
        return weight.new_zeros(shape), weight.new_zeros(shape)

    def flatten_parameters(self):
        """No-op, so code written for nn.LSTM (which calls this) keeps working."""

    def _param_map(self):
        """Yield (nn.LSTM parameter name, gate Linear, 'weight' or 'bias')."""
        param_types = ["weight", "bias"] if self.bias else ["weight"]
        suffixes = ["", "_reverse"] if self.bidirectional else [""]
        for i in range(self.num_layers):
            for ptype, pgate, suffix in product(param_types, ["i", "h"], suffixes):
                cell = self.cells[i] if suffix == "" else self.cells_reverse[i]
                gate = cell.fc_gate_x if pgate == "i" else cell.fc_gate_h
                yield f"{ptype}_{pgate}h_l{i}{suffix}", gate, ptype

    def to_pytorch_impl(self):
        module = nn.LSTM(
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bias=self.bias,
            batch_first=self.batch_first,
            dropout=self.dropout_factor,
            bidirectional=self.bidirectional,
        )
        for lstm_name, gate, ptype in self._param_map():
            setattr(module, lstm_name, nn.Parameter(getattr(gate, ptype).clone().detach()))
        module.flatten_parameters()
        return module

    @staticmethod
    def from_pytorch_impl(lstm: nn.LSTM):
        if lstm.proj_size:
            raise NotImplementedError("nn.LSTM with proj_size has no Distiller equivalent")
        module = DistillerLSTM(
            lstm.input_size,
            lstm.hidden_size,
            lstm.num_layers,
            bias=lstm.bias,
            batch_first=lstm.batch_first,
            dropout=lstm.dropout,
            bidirectional=lstm.bidirectional,
        )
        for lstm_name, gate, ptype in module._param_map():
            setattr(gate, ptype, nn.Parameter(getattr(lstm, lstm_name).clone().detach()))
        return module

    def extra_repr(self):
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"dropout={self.dropout_factor}, bidirectional={self.bidirectional}, "
            f"batch_first={self.batch_first}"
        )


def convert_model_to_distiller_lstm(model: nn.Module):
    """Replace every nn.LSTM / nn.LSTMCell in ``model`` (recursively, in place) by
    its Distiller equivalent with the same weights; returns the model (or the
    replacement, when ``model`` itself is an LSTM)."""
    if isinstance(model, nn.LSTMCell):
        return DistillerLSTMCell.from_pytorch_impl(model)
    if isinstance(model, nn.LSTM):
        return DistillerLSTM.from_pytorch_impl(model)
    for name, child in model.named_children():
        setattr(model, name, convert_model_to_distiller_lstm(child))
    return model
