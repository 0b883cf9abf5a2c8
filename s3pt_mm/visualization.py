"""Pictures: spatial clusters over images (paper Figure 1), depth maps before/after completion, semantic
segmentation labels and predictions (Figure 6).

Pure numpy/OpenCV drawing plus :func:`teacher_clusters`, which runs a pre-trained backbone and the spatial
clustering of the paper on one image. Used by ``tools/visualize.py``.
"""
import cv2
import numpy as np
import torch

from s3pt_mm.datasets.transforms import TokenGeometry
from s3pt_mm.models.utils.spatial_clustering import spatial_clustering


def colorize_depth(depth, max_depth=60.0):
    """(H, W) metres -> (H, W, 3) BGR (turbo colour map, near = blue), black where depth is 0."""
    scaled = np.clip(depth / max_depth * 255, 0, 255).astype(np.uint8)
    image = cv2.applyColorMap(scaled, cv2.COLORMAP_TURBO)
    image[depth <= 0] = 0
    return image


def label_palette(num_labels, seed=0):
    """Distinct BGR colours (golden-ratio hues) in a fixed, seeded order."""
    hues = (np.arange(num_labels) * 0.618034) % 1.0
    np.random.default_rng(seed).shuffle(hues)
    hsv = np.stack([hues * 179, np.full(num_labels, 200), np.full(num_labels, 255)], 1).astype(np.uint8)
    return cv2.cvtColor(hsv[None], cv2.COLOR_HSV2BGR)[0]


def overlay_labels(image, labels, alpha=0.5, palette=None, ignore_index=None):
    """Blend a (h, w) label grid (upsampled with nearest neighbour) over a BGR image, with white boundaries.

    ``palette`` ((L, 3) BGR, default :func:`label_palette`) colours label ``l`` with ``palette[l]``;
    pixels of ``ignore_index`` keep the image as it is.
    """
    height, width = image.shape[:2]
    grid = cv2.resize(labels.astype(np.int32).astype(np.float32), (width, height),
                      interpolation=cv2.INTER_NEAREST).astype(np.int64)
    ignored = grid == ignore_index if ignore_index is not None else np.zeros_like(grid, bool)
    valid = np.where(ignored, 0, grid)
    palette = label_palette(int(valid.max()) + 1) if palette is None else np.asarray(palette, np.uint8)
    out = cv2.addWeighted(image, 1 - alpha, palette[valid], alpha, 0)
    out[ignored] = image[ignored]
    edge = (np.diff(grid, axis=0, prepend=grid[:1]) != 0) | (np.diff(grid, axis=1, prepend=grid[:, :1]) != 0)
    out[edge] = 255
    return out


#: (name, clusters, Sinkhorn iterations, depth weight) of the spatial clustering settings compared in the
#: pictures and in tools/cluster_quality.py: CrIBo (Table 6), S3PT without and with its depth term (Table 7).
CLUSTER_SETTINGS = (('CrIBo: 32 clusters, 5 SK iters', 32, 5, 0.0),
                    ('S3PT: 128 clusters, 1 SK iter, no depth', 128, 1, 0.0),
                    ('S3PT: 128 clusters, 1 SK iter, depth 4', 128, 1, 4.0))


def build_teacher(checkpoint, random_init=False, seed=0):
    """Teacher ViT (eval mode), data preprocessor and patch size of a pre-training checkpoint (its config
    is in its meta). ``random_init``: the same architecture with freshly initialised weights (``seed``),
    the floor a pre-training has to beat."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    import s3pt_mm.models  # noqa: F401
    from s3pt_mm.utils.checkpoint import load_backbone_state_dict
    from s3pt_mm.utils.compat import UntrustedCheckpointError, load_checkpoint_safely
    try:
        meta = load_checkpoint_safely(checkpoint, map_location='cpu').get('meta', {})
    except UntrustedCheckpointError as error:
        raise SystemExit(f'error: {error}')
    if 'cfg' not in meta:
        raise SystemExit(f'{checkpoint}: no config in the checkpoint meta (not an mmengine Runner '
                         'checkpoint of pre-training)')
    cfg = Config.fromstring(meta['cfg'], '.py')
    torch.manual_seed(seed)
    backbone = MODELS.build(cfg.model.backbone)
    if random_init:
        backbone.init_weights()
    else:
        backbone.load_state_dict(load_backbone_state_dict(checkpoint, 'teacher'))
    backbone.eval()  # (mmpretrain's ViT.train() returns None, so no chaining)
    return backbone, MODELS.build(cfg.model.data_preprocessor), cfg.model.backbone.patch_size


def view_size(image_shape, height, patch_size):
    """(width, height) the image is resized to for the teacher: ``height`` x the aspect-kept width rounded
    to the patch size."""
    h0, w0 = image_shape[:2]
    return max(patch_size, int(round(w0 * height / h0 / patch_size)) * patch_size), height


@torch.no_grad()
def teacher_tokens(backbone, image, depth, *, height=224, patch_size=16, data_preprocessor=None):
    """The teacher's tokens of one image, with their positions and depths as the training clusters them.

    The image is resized to :func:`view_size`; ``TokenGeometry`` gives every token its position in
    original pixels and its depth (0 = unknown).

    Args:
        backbone: mmpretrain ViT (``out_type='raw'``, [CLS] first) in eval mode.
        image (np.ndarray): (H, W, 3) BGR uint8. depth (np.ndarray | None): (H, W) metres, 0 = unknown.
        data_preprocessor: mmpretrain SelfSupDataPreprocessor of the pre-training config.

    Returns:
        tuple: tokens (1, N, C), positions (1, N, 2), depths (1, N) tensors and the (rows, cols) token grid.
    """
    h0, w0 = image.shape[:2]
    width, height = view_size(image.shape, height, patch_size)
    view = cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)
    results = dict(img=view, view_to_orig=np.array([[w0 / width, 0, 0], [0, h0 / height, 0]]))
    if depth is not None:
        results['depth'] = cv2.resize(depth, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)
    geometry = TokenGeometry(patch_size=patch_size)(results)
    inputs = torch.from_numpy(view.transpose(2, 0, 1).copy())[None]
    if data_preprocessor is not None:
        inputs = data_preprocessor(dict(inputs=[inputs], data_samples=None), training=False)['inputs'][0]
    tokens = backbone(inputs.float())[-1][:, 1:]
    depths = torch.from_numpy(np.where(geometry['token_depth_valid'], geometry['token_depths'], 0))[None]
    return (tokens, torch.from_numpy(geometry['token_positions'])[None], depths,
            (height // patch_size, width // patch_size))


def cluster_tokens(tokens, positions, depths, grid, *, num_clusters, num_iters, depth_alpha, seed=0):
    """:func:`spatial_clustering` of one image's tokens (from :func:`teacher_tokens`); (rows, cols) labels."""
    labels = spatial_clustering(
        tokens, positions, depths if depth_alpha > 0 else None, num_clusters=num_clusters, num_iters=num_iters,
        depth_alpha=depth_alpha, generator=torch.Generator().manual_seed(seed))
    return labels[0].reshape(grid).numpy()


def teacher_clusters(backbone, image, depth, *, num_clusters, num_iters, depth_alpha, height=224,
                     patch_size=16, data_preprocessor=None, seed=0):
    """Spatial clusters of one image's tokens, as the paper computes them for training: the tokens of
    this single view (:func:`teacher_tokens`) through :func:`spatial_clustering` with the given settings.

    Returns:
        np.ndarray: (rows, cols) labels of the token grid.
    """
    *inputs, grid = teacher_tokens(backbone, image, depth, height=height, patch_size=patch_size,
                                   data_preprocessor=data_preprocessor)
    return cluster_tokens(*inputs, grid, num_clusters=num_clusters, num_iters=num_iters, depth_alpha=depth_alpha,
                          seed=seed)


def caption(image, text):
    """The image with a text banner on top."""
    banner = np.full((22, image.shape[1], 3), 32, np.uint8)
    (text_width, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    scale = 0.45 * min(1.0, (image.shape[1] - 8) / max(text_width, 1))
    cv2.putText(banner, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([banner, image], 0)


def grid(rows):
    """Stack a list of rows (lists of equally sized images) into one image."""
    return np.concatenate([np.concatenate(row, 1) for row in rows], 0)
