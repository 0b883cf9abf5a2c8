"""Depth from LiDAR for S3PT's depth-guided spatial clustering (paper §3.3): projection of a sweep into a
camera (:mod:`.projection`) and IP-Basic completion (:mod:`.ip_basic`). Pure numpy / OpenCV."""
from .ip_basic import fill_in_fast, fill_in_multiscale
from .projection import (SparseDepth, lidar_to_camera, project_to_image, quaternion_to_matrix,
                         sparse_depth_map, transform_matrix)

__all__ = [
    'fill_in_fast', 'fill_in_multiscale', 'quaternion_to_matrix', 'transform_matrix', 'lidar_to_camera',
    'project_to_image', 'SparseDepth', 'sparse_depth_map'
]
