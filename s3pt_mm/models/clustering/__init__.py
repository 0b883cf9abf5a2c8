from .sinkhorn_spatial_clustering import SinkhornSpatialClustering

__all__ = ['SinkhornSpatialClustering']
